"""The currency codes a report entry may carry, from CLDR's data through babel.

Every code that was legal tender somewhere on or after the API's first date: a history reaches
back to 2020, so a code retired since (HRK, 2023) is still a valid answer for its dates, and a
code that is new (XCG, 2025) is valid as soon as CLDR knows it. An unknown code means a broken
response, not a new currency, so it is refused rather than stored. babel is maintained with
each CLDR release, where a hand-kept table goes stale unnoticed.
"""

from __future__ import annotations

from datetime import date

from babel.core import get_global

from vipps_pipeline.settings import FIRST_API_DATE


def tender_since(first: date) -> frozenset[str]:
    """ISO 4217 codes that were legal tender in some territory on or after ``first``."""
    return frozenset(
        code
        for spans in get_global("territory_currencies").values()
        for code, _start, end, tender in spans
        if tender and (end is None or date(*end) > first)
    )


ISO_4217 = tender_since(FIRST_API_DATE)
