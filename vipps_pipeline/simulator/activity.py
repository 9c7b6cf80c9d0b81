"""What happens on a ledger date before the day-end rows: sales, fees and the odd entries.

Every date draws from its own seeded random stream, so any date can be generated alone and
always comes out the same; a date's fees may land one or two days later, so a fees day asks
the dates before it which of their fees land on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from vipps_pipeline.simulator.dates import episode, window
from vipps_pipeline.simulator.ledgers import LedgerSpec

if TYPE_CHECKING:
    from vipps_pipeline.simulator.model import World

UNKNOWN_ENTRY_TYPE = "interest-adjustment"
"""A type the vendor might add without notice: the pipeline must keep it, never reject it.
Sent only with ``Faults(unknown_entry_type=True)``; the vendor documents no such type."""
NEGATIVE_EPISODE_REFUND = 250_000_000
"""A cancelled event refunded at once (2.5 million NOK): the balance stays negative for weeks."""


@dataclass
class Move:
    """A balance-moving entry before the day-end rows; balances are assigned later."""

    t: datetime
    entry_type: str
    amount: int
    psp: str
    reference: str
    handle: str | None
    name: str | None = None
    phone: str | None = None
    message: str | None = None
    local_format: bool = False


@dataclass
class Fee:
    """A capture's fee, kept apart from the capture: it lands on the fees ledger, maybe later."""

    capture_psp: str
    capture_date: date
    landing: date
    amount: int
    t: datetime
    reference: str
    handle: str | None


def day_rng(world: World, spec: LedgerSpec, d: date, what: str) -> random.Random:
    return random.Random(f"{world.seed}:{spec.ledger_id}:{d.isoformat()}:{what}")


def activity(world: World, spec: LedgerSpec, d: date) -> tuple[list[Move], list[Fee]]:
    """Captures, refunds and odd entries of a funds day, and the fees its captures cause."""
    moves, fees, rng = sales(world, spec, d)
    if not moves:
        return [], fees
    start, end = window(spec, d)
    span = (end - start).total_seconds()
    moves = list(moves)
    ordinal = d.toordinal() + int(spec.ledger_id)
    mid = start + timedelta(seconds=span / 2)
    if ordinal % 11 == 0:
        moves.append(Move(mid, "correction", rng.choice((-900, 1200)), f"C{d:%y%m%d}", "", None))
    if ordinal % 13 == 0:
        moves.append(Move(mid, "top-up", 25_000, f"T{d:%y%m%d}", "top-up", None))
    if world.faults.unknown_entry_type and ordinal % 7 == 0:
        moves.append(Move(mid, UNKNOWN_ENTRY_TYPE, 321, f"U{d:%y%m%d}", "", None))
    if "disputes" in spec.extras:
        moves += _disputes(world, spec, d, mid, net=sum(m.amount for m in moves))
    found = episode(spec, d)
    if found is not None and d == found[0]:
        moves.append(
            Move(
                start + timedelta(hours=9),
                "refund",
                -NEGATIVE_EPISODE_REFUND,
                f"{spec.ledger_id[-3:]}{d:%y%m%d}EV",
                "cancelled-event",
                None,
            )
        )
    moves.sort(key=lambda m: m.t)
    return moves, fees


def _disputes(world: World, spec: LedgerSpec, d: date, mid: datetime, net: int) -> list[Move]:
    """A capture disputed three days ago is retained today; one retained five days ago comes
    back. Never so large that a dispute pushes a day below zero."""
    out = []
    ordinal = d.toordinal() + int(spec.ledger_id)
    retained = disputed(world, spec, d - timedelta(days=3))
    if ordinal % 17 == 3 and retained and retained.amount < net // 3:
        out.append(
            replace(
                retained,
                t=mid,
                entry_type="retained-disputed-capture",
                amount=-retained.amount,
            )
        )
    returned = disputed(world, spec, d - timedelta(days=8))
    then = sales(world, spec, d - timedelta(days=5))[0]
    if (ordinal - 5) % 17 == 3 and returned and returned.amount < sum(m.amount for m in then) // 3:
        out.append(
            replace(
                returned,
                t=mid + timedelta(minutes=1),
                entry_type="returned-disputed-capture",
            )
        )
    return out


def disputed(world: World, spec: LedgerSpec, d: date) -> Move | None:
    """The capture of date ``d`` an issuer disputes (the smallest), if that date had any."""
    captures = [m for m in sales(world, spec, d)[0] if m.entry_type == "capture"]
    return min(captures, key=lambda m: m.amount, default=None)


def sales(world: World, spec: LedgerSpec, d: date) -> tuple[list[Move], list[Fee], random.Random]:
    """Captures and refunds of a date, the fees they cause, and the date's random stream
    (left where the sales ended, for the odd entries that follow)."""
    rng = day_rng(world, spec, d, "activity")
    if (
        d < spec.start
        or (spec.ledger_id, d) in world.large_days
        or d.weekday() in spec.quiet_weekdays
    ):
        return [], [], rng
    start, end = window(spec, d)
    span = (end - start).total_seconds()
    n = rng.randint(*spec.captures)
    moves: list[Move] = []
    fees: list[Fee] = []
    times = sorted(rng.uniform(60, span - 120) for _ in range(n))
    delayed = set(rng.sample(range(n), k=min(n, rng.choice((0, 1, 2, 3)))))
    missing = (spec.ledger_id, d) in world.faults.missing_fee
    for i, offset in enumerate(times):
        capture = _capture(spec, d, i, start + timedelta(seconds=offset), rng)
        moves.append(capture)
        fees += _capture_fees(world, spec, d, i, capture, rng, i in delayed, missing and i == 0)
        if rng.random() < 0.1:
            refund_t = capture.t + timedelta(seconds=rng.uniform(1, max(2, span - 90 - offset)))
            moves.append(
                Move(
                    refund_t,
                    "refund",
                    -(capture.amount * rng.randint(10, 50) // 100),
                    f"{capture.psp}R",
                    capture.reference,
                    capture.handle,
                )
            )
    return moves, fees, rng


def _capture(spec: LedgerSpec, d: date, i: int, t: datetime, rng: random.Random) -> Move:
    amount = rng.randint(*spec.amounts)
    psp = f"{spec.ledger_id[-3:]}{d:%y%m%d}{i:04d}"
    reference = "" if rng.random() < 0.04 else f"order-{d:%Y%m%d}-{i:04d}"
    handle = None if rng.random() < 0.04 else rng.choice(spec.recipient_handles)
    return Move(
        t,
        "capture",
        amount,
        psp,
        reference,
        handle,
        name=f"Customer {i}",
        phone=f"xxxx {1000 + i:04d}",
        message=f"Order {i}",
        local_format=(i % 9 == 4),
    )


def _capture_fees(
    world: World,
    spec: LedgerSpec,
    d: date,
    i: int,
    capture: Move,
    rng: random.Random,
    delayed: bool,
    missing: bool,
) -> list[Fee]:
    """The fees of one capture: usually one, sometimes two, landing the same day or (when
    ``delayed``) a day or two later; none when the ``missing_fee`` fault drops them. The
    random draws happen in the same order whatever the outcome, so the stream stays stable."""
    fee = capture.amount * spec.fee_bp // 10_000 + spec.fee_fixed
    delay = rng.choice((1, 2)) if delayed else 0
    landing = d + timedelta(days=delay)
    if (spec.ledger_id, landing) in world.large_days or landing.weekday() in (spec.quiet_weekdays):
        landing = d  # a quiet day stays empty
    fee_t = (
        capture.t + timedelta(seconds=3)
        if delay == 0
        else (window(spec, landing)[0] + timedelta(minutes=5 + i))
    )
    if missing:
        return []
    out = []
    if rng.random() < 0.06:  # some captures are charged two fees
        out.append(
            Fee(capture.psp, d, landing, -(fee - 50), fee_t, capture.reference, capture.handle)
        )
        fee = 50
    out.append(Fee(capture.psp, d, landing, -fee, fee_t, capture.reference, capture.handle))
    return out


def fee_moves(world: World, spec: LedgerSpec, d: date) -> list[Move]:
    """The fees ledger's entries of a date: fees landing on it, and its own odd entries."""
    moves = []
    for back in (2, 1, 0):
        for fee in sales(world, spec, d - timedelta(days=back))[1]:
            if fee.landing == d:
                moves.append(
                    Move(
                        fee.t,
                        "capture-fee",
                        fee.amount,
                        fee.capture_psp,
                        fee.reference,
                        fee.handle,
                    )
                )
    start, end = window(spec, d)
    if d < spec.start:
        return moves
    if (d.toordinal() + int(spec.ledger_id)) % 23 == 5 and d.weekday() not in (spec.quiet_weekdays):
        moves.append(Move(start + (end - start) / 3, "correction", 50, f"FC{d:%y%m%d}", "", None))
    if "service-fee" in spec.extras and d.day == 1:
        moves.append(
            Move(
                start + timedelta(hours=2),
                "service-fee",
                -9_900,
                f"SF{d:%y%m}",
                "subscription",
                None,
            )
        )
    if "credit-note" in spec.extras and d.day == 3:
        moves.append(
            Move(
                start + timedelta(hours=3),
                "credit-note",
                1_500,
                f"CN{d:%y%m}",
                "credit note",
                None,
            )
        )
    moves.sort(key=lambda m: m.t)
    return moves
