"""The words every layer shares: topics, a check's status, the finding a check produces, money.

Kept free of Dagster, pandas and Arrow so that any module can import it. Status values are the
strings stored in the findings Parquet files, so the enum may gain members but its values never
change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from functools import cache

from babel.numbers import get_currency_precision

__all__ = [
    "STATUS_RANK",
    "TOPICS",
    "Status",
    "currency_digits",
    "finding",
    "minor_to_text",
]

TOPICS = ("funds", "fees")
"""The report topics the API serves for every ledger."""


class Status(StrEnum):
    """The verdict of one check on one ledger-day (a ``str``, so it compares and stores as one).

    ``unknown``: the data needed to decide is not stored (e.g. the previous day);
    ``pending``: not decidable yet but expected to be (a capture whose fee window is open).
    """

    PASS = "pass"
    UNKNOWN = "unknown"
    PENDING = "pending"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        """How bad the status is (pass 0 < unknown < pending < fail 3), to show a day's worst."""
        return _RANK[self]

    @classmethod
    def worst(cls, statuses: Iterable[str]) -> Status:
        """The worst of ``statuses``; ``pass`` when there are none."""
        return max((cls(s) for s in statuses), key=_RANK.__getitem__, default=cls.PASS)


_RANK = {Status.PASS: 0, Status.UNKNOWN: 1, Status.PENDING: 2, Status.FAIL: 3}
STATUS_RANK: dict[str, int] = {str(s): r for s, r in _RANK.items()}
"""Rank by status string, for mapping a pandas column of statuses."""


def finding(
    ledger_id: str,
    ledger_date: date,
    topic: str,
    check: str,
    status: Status,
    expected: int | None = None,
    actual: int | None = None,
    detail: str = "",
) -> dict:
    """One row of the findings datasets (reconciliation and feed comparison share the shape).

    Plain values only: the status as ``str`` and money as ``int``, so neither the enum nor numpy
    scalars reach Arrow, JSON or Dagster metadata.
    """
    return {
        "ledger_id": ledger_id,
        "ledger_date": ledger_date,
        "topic": topic,
        "check": check,
        "status": str(status),
        "expected": None if expected is None else int(expected),
        "actual": None if actual is None else int(actual),
        "detail": detail,
    }


@cache
def currency_digits(currency: str | None) -> int:
    """Digits after the point in ``currency``'s major unit (NOK 2, JPY 0, KWD 3; 2 when the
    currency is absent), from CLDR through babel."""
    return get_currency_precision(currency) if currency else 2


def minor_to_text(amount: int, currency: str | None) -> str:
    """An amount in minor units as a plain decimal in major units ("1234.56"): integer
    arithmetic only, so no amount is ever rounded through floating point."""
    digits = currency_digits(currency)
    if digits == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(int(amount)), 10**digits)
    return f"{sign}{whole}.{part:0{digits}d}"
