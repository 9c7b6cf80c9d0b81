"""The pinned clock every test runs at, so that no test depends on the day it runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
"""The simulator's clock in tests: every date up to 2026-11-22 is closed on daily ledgers."""
CLOSED_DAY = date(2026, 11, 20)
LEDGER_IDS = ["100001", "100002", "100003", "100004", "100005", "100006", "100007"]


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


class Clock:
    """A clock a test moves by hand (``clock.at = ...``)."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at
