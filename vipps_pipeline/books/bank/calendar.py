"""Banking days: payouts are never made on weekends or on the country's bank holidays.

The country is the payout account's (``BBAN:NO``, ``IBAN:FI`` in the ledger list), else the
currency's home (NOK Norway, DKK Denmark, SEK Sweden, EUR Finland: the vendor's euro market).
Holidays come from the ``holidays`` package, which knows each country's moving feasts.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays

CURRENCY_COUNTRY = {"NOK": "NO", "DKK": "DK", "SEK": "SE", "EUR": "FI"}


def country_of(currency: str, account_scheme: str | None = None) -> str:
    """The country whose banking days a payout to this account follows."""
    if account_scheme and ":" in account_scheme:
        code = account_scheme.rsplit(":", 1)[1].strip().upper()
        if len(code) == 2 and code.isalpha():
            return code
    return CURRENCY_COUNTRY.get(currency, "NO")


@cache
def _holidays(country: str) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        return holidays.HolidayBase()  # a country the package does not know: weekends only


def is_banking_day(d: date, country: str) -> bool:
    return d.weekday() < 5 and d not in _holidays(country)


def add_banking_days(d: date, n: int, country: str) -> date:
    """The ``n``-th banking day after ``d`` (``d`` itself never counts)."""
    while n > 0:
        d += timedelta(days=1)
        n -= is_banking_day(d, country)
    return d
