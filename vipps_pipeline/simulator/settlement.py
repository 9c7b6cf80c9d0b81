"""How a ledger date settles: the day-end rows, and the closing balances they guarantee.

Payouts, retained or invoiced fees and the top-up that ends a negative episode are what make
balances chain without replaying history: after them a ledger holds a known amount (its
reserve, or zero), so the next date's opening is known by construction.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from vipps_pipeline.simulator.activity import Move
from vipps_pipeline.simulator.dates import episode, month_end, pays_out, window
from vipps_pipeline.simulator.ledgers import LedgerSpec

if TYPE_CHECKING:
    from vipps_pipeline.simulator.model import World

DayEndRow = tuple[str, str | int]
"""(entry type, amount or how to compute it: ``"payout"`` or ``"clear"``) at the day's end."""


def day_end_rows(
    world: World, spec: LedgerSpec, topic: str, d: date, fees_total: int
) -> list[DayEndRow]:
    """The rows booked at the end of a ledger date, in order; their amounts that depend on
    the balance (a payout, clearing to zero) are computed when balances are assigned."""
    tail: list[DayEndRow] = []
    key = (spec.ledger_id, d)
    if topic == "funds":
        if spec.settlement == "net" and fees_total:
            tail.append(
                (
                    "fees-retained",
                    fees_total + 100 * (key in world.faults.fees_retained_mismatch),
                )
            )
        found = episode(spec, d)
        if found is not None and d == found[1]:
            tail.append(("top-up", "clear"))
        if pays_out(spec, d):
            payout = (spec.payout_type, "payout")
            if key in world.faults.payout_not_last and tail:
                tail.insert(0, payout)
            else:
                tail.append(payout)
    elif spec.settlement == "net" and fees_total:
        tail.append(("fees-retained", -fees_total))
    elif spec.settlement == "gross" and d == month_end(d):
        tail.append(("fees-invoiced", "clear"))
    return tail


def closing_anchor(world: World, spec: LedgerSpec, topic: str, d: date) -> int | None:
    """A day's closing balance when it is known by construction (so the next day's opening
    needs no replay of history): a payout leaves the reserve, net fees are retained daily,
    gross fees are invoiced at month end, a top-up clears a negative episode."""
    if topic == "fees":
        return 0 if spec.settlement == "net" or d == month_end(d) else None
    if (spec.ledger_id, d) in world.faults.payout_not_last:
        return None
    if pays_out(spec, d):
        return spec.reserve
    found = episode(spec, d)
    return 0 if found is not None and d == found[1] else None


def aborted_payout(world: World, spec: LedgerSpec, d: date) -> Move | None:
    """The previous date's payout coming back: it could not be executed."""
    prev = d - timedelta(days=1)
    if (
        "payout-aborted" not in spec.extras
        or (d.toordinal() + int(spec.ledger_id)) % 29
        or prev < spec.start
    ):
        return None
    last = world.day(spec.ledger_id, "funds", prev).entries[-1:]
    if not last or last[0]["entryType"] != spec.payout_type:
        return None
    start, _ = window(spec, d)
    return Move(
        start + timedelta(seconds=30),
        "payout-aborted",
        -last[0]["amount"],
        last[0]["pspReference"],
        last[0]["reference"],
        None,
    )
