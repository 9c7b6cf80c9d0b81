"""Ledger balances: a date's opening, and the booking of its rows into a served day.

Balances are assigned last, after every row of the date is known, so each entry's
``balanceBefore``/``balanceAfter`` chain from the opening; the injected balance jumps break
that chain on purpose, where a test asked for it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from vipps_pipeline.simulator.activity import Move, activity, fee_moves
from vipps_pipeline.simulator.dates import payout_number, window
from vipps_pipeline.simulator.days import Day, fmt_time
from vipps_pipeline.simulator.ledgers import LedgerSpec
from vipps_pipeline.simulator.settlement import aborted_payout, closing_anchor, day_end_rows

if TYPE_CHECKING:
    from vipps_pipeline.simulator.model import World

JUMP = 7_700
"""Size of an injected balance jump, in minor units."""

Row = tuple[datetime, str, str | int, Move | None]
"""(time, entry type, amount or how to compute it, the move it books or None at day end)."""


def opening(world: World, spec: LedgerSpec, topic: str, d: date) -> int:
    """The balance a date opens with: the last known closing, found without replaying more
    than the dates since the last day-end that fixed the balance."""
    prev = d - timedelta(days=1)
    if prev < spec.start:
        return 0
    anchor = closing_anchor(world, spec, topic, prev)
    if anchor is not None:
        return anchor
    closing = world.day(spec.ledger_id, topic, prev).closing
    return opening(world, spec, topic, prev) if closing is None else closing


def build(world: World, spec: LedgerSpec, topic: str, d: date) -> Day:
    """The complete ledger-day: its moves, then its day-end rows, with balances assigned."""
    _start, end = window(spec, d)
    fees = fee_moves(world, spec, d)
    moves = fees if topic == "fees" else list(activity(world, spec, d)[0])
    if topic == "funds":
        aborted = aborted_payout(world, spec, d)
        if aborted is not None:
            moves.insert(0, aborted)
    tail = day_end_rows(world, spec, topic, d, sum(m.amount for m in fees))
    if not moves and d < spec.start:
        return Day([], [])
    key = (spec.ledger_id, d)
    balance = opening(world, spec, topic, d)
    if topic == "funds" and key in world.faults.balance_jump_between_days:
        balance += JUMP
    jumps_in_day = topic == "funds" and key in world.faults.balance_jump_in_day
    jump_at = len(moves) // 2 if jumps_in_day else -1
    rows: list[Row] = [(m.t, m.entry_type, m.amount, m) for m in moves]
    rows += [(end, entry_type, amount, None) for entry_type, amount in tail]
    return _book(spec, d, rows, balance, jump_at)


def _book(spec: LedgerSpec, d: date, rows: list[Row], balance: int, jump_at: int) -> Day:
    """Rows to entries with running balances; a payout or clearing row that would move
    nothing (or the wrong way) is left out."""
    tz = ZoneInfo(spec.timezone)
    entries: list[dict[str, Any]] = []
    times: list[float] = []
    for i, (t, entry_type, how, move) in enumerate(rows):
        if i == jump_at:
            balance += JUMP
        psp = move.psp if move else f"{entry_type[:2].upper()}{spec.ledger_id}{d:%y%m%d}"
        reference = move.reference if move else ""
        if how == "payout":
            amount = -(balance - spec.reserve)
            if amount >= 0:
                continue  # nothing to pay out (a quiet day, or below the reserve)
            n = payout_number(spec, d)
            psp, reference = f"{spec.ledger_id}-{n}", spec.payout_text.format(n=n)
        elif how == "clear":
            amount = -balance
            if amount == 0 or (entry_type == "top-up" and amount < 0):
                continue
        else:
            amount = int(how)
        time = fmt_time(t, tz if move and move.local_format else None)
        entries.append(_entry(spec, d, time, entry_type, psp, reference, amount, balance, move))
        times.append(t.timestamp())
        balance += amount
    return Day(entries, times)


def _entry(
    spec: LedgerSpec,
    d: date,
    time: str,
    entry_type: str,
    psp: str,
    reference: str,
    amount: int,
    balance: int,
    move: Move | None,
) -> dict[str, Any]:
    """One report entry as the API serves it; GDPR fields only where a customer paid."""
    entry: dict[str, Any] = {
        "pspReference": psp,
        "time": time,
        "ledgerDate": d.isoformat(),
        "entryType": entry_type,
        "reference": reference,
        "currency": spec.currency,
        "amount": amount,
        "balanceBefore": balance,
        "balanceAfter": balance + amount,
        "recipientHandle": move.handle if move else None,
    }
    if move is not None and move.name is not None:
        entry["name"], entry["maskedPhoneNo"], entry["message"] = (
            move.name,
            move.phone,
            move.message,
        )
    return entry
