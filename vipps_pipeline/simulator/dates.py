"""The ledger calendar: when a ledger date begins and ends, and when its period settles.

Pure functions of a ledger's definition, so the generator, the settlement rules and the
API's view of which dates are open all agree on one calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vipps_pipeline.simulator.ledgers import LedgerSpec


def month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def window(spec: LedgerSpec, d: date) -> tuple[datetime, datetime]:
    """A ledger date runs cutoff-to-cutoff in the ledger's local time: (start, end) in UTC."""
    tz = ZoneInfo(spec.timezone)
    start = datetime.combine(d, time(spec.cutoff_hour), tz)
    end = datetime.combine(d + timedelta(days=1), time(spec.cutoff_hour), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def episode(spec: LedgerSpec, d: date) -> tuple[date, date] | None:
    """The negative-balance episode ``d`` falls in, as (first, last day), or None."""
    if spec.negative is None or d < spec.start:
        return None
    offset, period, length = spec.negative
    k = ((d - spec.start).days - offset) // period
    first = spec.start + timedelta(days=offset + k * period)
    last = first + timedelta(days=length - 1)
    return (first, last) if k >= 0 and first <= d <= last else None


def period_end(spec: LedgerSpec, d: date) -> date:
    """The last date of the settlement period ``d`` belongs to: the dates of a period
    close together, when its payout is made (a negative-balance episode closes when the
    top-up clears it)."""
    found = episode(spec, d)
    if found is not None:
        return found[1]
    if spec.payout == "monthly":
        return month_end(d)
    if spec.payout == "weekly":
        return d + timedelta(days=6 - d.weekday())
    return d


def pays_out(spec: LedgerSpec, d: date) -> bool:
    return period_end(spec, d) == d and episode(spec, d) is None


def ledger_date_of(spec: LedgerSpec, t: datetime) -> date:
    local = t.astimezone(ZoneInfo(spec.timezone)) - timedelta(hours=spec.cutoff_hour)
    return local.date()


def payout_number(spec: LedgerSpec, d: date) -> int:
    return 2_000_000 + (d - spec.start).days
