"""What a finding's two numbers mean: ``expected`` and ``actual`` are bare integers in the
findings files (minor units or counts), which nobody can read as "0 / 3". Every place a person
reads a finding (the UI's tables, the alerts) says them with their meaning and unit from here.
"""

from __future__ import annotations

from collections.abc import Mapping

from vipps_pipeline.domain import minor_to_text

__all__ = ["CHECK_TERMS", "finding_in_words", "said"]

CHECK_TERMS: dict[str, tuple[str, str, bool]] = {
    "row_arithmetic": ("balance before plus amount", "balance after", True),
    "chain_within_day": ("the previous entry's balance after", "the next balance before", True),
    "day_movement": ("closing minus opening balance", "the day's amounts add up to", True),
    "chain_across_days": ("the previous date's closing balance", "this date's opening", True),
    "fees_retained_mirror": ("fees retained, as the fees ledger says", "on the funds", True),
    "fee_coverage": ("captures without a capture fee", "captures without a fee", False),
    "fee_has_capture": ("capture fees without a capture", "fees without a capture", False),
    "payout_last": ("at most the balance before the payout", "paid out", True),
    "feed_matches_report": ("entries in the report", "entries in the feed", False),
}
"""Per check: what its ``expected`` and ``actual`` numbers are, and whether they are money."""


def said(value: object, money: bool, currency: str | None) -> str:
    """A finding's number as a person reads it: money in major units with the currency's
    digits (exact, never through a float), a count as a count; "" when there is none."""
    if value is None:
        return ""
    if not money:
        return str(value)
    return f"{minor_to_text(int(value), currency)} {currency or ''}".strip()


def finding_in_words(row: Mapping[str, object], currency: str | None) -> dict[str, object]:
    """The finding with ``expected`` and ``actual`` as "meaning: value unit" text."""
    exp_label, act_label, money = CHECK_TERMS.get(str(row.get("check")), ("", "", False))
    out = dict(row)
    for column, label in (("expected", exp_label), ("actual", act_label)):
        value = said(row.get(column), money, currency)
        out[column] = f"{label}: {value}" if value and label else (value or None)
    return out
