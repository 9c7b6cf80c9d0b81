"""Funds against fees: the two ledgers of one merchant must tell the same story.

Findings carry the topic ``funds_fees``, one per target date. A capture and its fee may land
on different dates (the fee window), so these checks read the stored days around the targets,
and say ``pending`` or ``unknown`` when the days that could hold the answer are not stored yet.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from vipps_pipeline.books.checks.base import CheckInputs, check, entry, listed
from vipps_pipeline.domain import Status, finding

FUNDS_FEES_GROUP = "funds_vs_fees"
TOPIC = "funds_fees"
FEE_SETTLEMENT_TYPES = ("fees-retained", "fees-invoiced")
"""Fees-ledger entries that settle fees rather than charge them."""
_MATCH_COLUMNS = ["ledger_date", "day", "seq", "psp_reference"]


def _unmatched(
    rows: pd.DataFrame, others: pd.DataFrame, lo: int, hi: int
) -> dict[date, pd.DataFrame]:
    """Per ledger date, the ``rows`` with no entry of ``others`` (same pspReference) between
    ``lo`` and ``hi`` days from their own day."""
    m = rows.merge(
        others[["psp_reference", "day"]].rename(columns={"day": "other"}),
        on="psp_reference",
        how="left",
    )
    m["ok"] = (m.other >= m.day + lo) & (m.other <= m.day + hi)
    found = m.groupby(["ledger_date", "seq", "psp_reference"], sort=True).ok.any().reset_index()
    return {d: g for d, g in found[~found.ok].groupby("ledger_date")}


def _captures(inp: CheckInputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(captures, capture fees), the two sides the fee window pairs up."""
    funds, fees = inp.funds, inp.fees
    return (
        funds.loc[funds.entry_type == "capture", _MATCH_COLUMNS],
        fees.loc[fees.entry_type == "capture-fee", _MATCH_COLUMNS],
    )


@check(
    FUNDS_FEES_GROUP,
    "fees_retained_mirror",
    "Fees retained from the funds equal the fees-retained on the fees "
    "ledger, with the opposite sign, on the same date; on a net-settlement ledger the fees "
    "charged that day are retained.",
)
def fees_retained_mirror(inp: CheckInputs) -> list[dict]:
    funds, fees = inp.funds, inp.fees
    charges = fees[~fees.entry_type.isin(FEE_SETTLEMENT_TYPES)].groupby("ledger_date").amount.sum()
    fr_funds = funds[funds.entry_type == "fees-retained"].groupby("ledger_date").amount.sum()
    fr_fees = fees[fees.entry_type == "fees-retained"].groupby("ledger_date").amount.sum()
    invoiced_days = set(fees.loc[fees.entry_type == "fees-invoiced", "ledger_date"])
    settlement = inp.settlement
    has_fees = (fees.entry_type == "capture-fee").any()
    if settlement is None and has_fees and not len(fr_fees) and not len(fr_funds):
        settlement = "gross"  # only a guess from these days: the caller knows no better
    out = []
    for d in inp.targets:
        a, b = int(fr_funds.get(d, 0)), int(fr_fees.get(d, 0))
        charged = int(charges.get(d, 0))
        if a == 0 and b == 0 and settlement == "net" and charged:
            status, expected, actual = Status.FAIL, -charged, 0
            detail = (
                f"net settlement, but the {-charged} of fees charged on this date were not "
                "retained from the funds"
            )
        elif a == 0 and b == 0:
            status, expected, actual = Status.PASS, 0, 0
            detail = (
                "gross settlement: no fees retained, fees are invoiced monthly"
                if settlement == "gross" or d in invoiced_days
                else "no fees charged or retained on this date"
            )
        else:
            status, expected, actual = Status.PASS if a == -b else Status.FAIL, -b, a
            detail = f"funds fees-retained {a}, fees-ledger fees-retained {b}"
        out.append(
            finding(
                inp.ledger_id, d, TOPIC, "fees_retained_mirror", status, expected, actual, detail
            )
        )
    return out


@check(
    FUNDS_FEES_GROUP,
    "fee_coverage",
    "Every capture gets at least one capture fee (same pspReference) within the fee window.",
)
def fee_coverage(inp: CheckInputs) -> list[dict]:
    captures, cfees = _captures(inp)
    uncovered = _unmatched(captures, cfees, 0, inp.window - 1)
    capture_counts = captures.ledger_date.value_counts().to_dict()
    out = []
    for d in inp.targets:
        missing = uncovered.get(d)
        if missing is None:
            detail = f"{capture_counts.get(d, 0)} captures covered"
            out.append(finding(inp.ledger_id, d, TOPIC, "fee_coverage", Status.PASS, detail=detail))
            continue
        window_days = [d + timedelta(days=k) for k in range(inp.window)]
        problems = [f"capture {entry(x)} has no capture-fee" for x in missing.to_dict("records")]
        window_stored = all(wd in inp.fees_dates for wd in window_days)
        suffix = "" if window_stored else f" (fee window open until {window_days[-1]})"
        out.append(
            finding(
                inp.ledger_id,
                d,
                TOPIC,
                "fee_coverage",
                Status.FAIL if window_stored else Status.PENDING,
                0,
                len(missing),
                listed(problems) + suffix,
            )
        )
    return out


@check(
    FUNDS_FEES_GROUP,
    "fee_has_capture",
    "Every capture fee belongs to a capture on the same or an earlier date in the fee window.",
)
def fee_has_capture(inp: CheckInputs) -> list[dict]:
    captures, cfees = _captures(inp)
    orphans_by_day = _unmatched(cfees, captures, -(inp.window - 1), 0)
    out = []
    for d in inp.targets:
        orphans = orphans_by_day.get(d)
        if orphans is None:
            out.append(finding(inp.ledger_id, d, TOPIC, "fee_has_capture", Status.PASS))
            continue
        back = [d - timedelta(days=k) for k in range(inp.window)]
        stored = all(bd in inp.funds_dates for bd in back)
        problems = [f"capture-fee {entry(x)} has no capture" for x in orphans.to_dict("records")]
        out.append(
            finding(
                inp.ledger_id,
                d,
                TOPIC,
                "fee_has_capture",
                Status.FAIL if stored else Status.UNKNOWN,
                0,
                len(orphans),
                listed(problems) + ("" if stored else f" (funds from {back[-1]} not all stored)"),
            )
        )
    return out


@check(
    FUNDS_FEES_GROUP,
    "one_currency",
    "The funds and fees of a ledger are in one currency, the same every day.",
)
def one_currency(inp: CheckInputs) -> list[dict]:
    st = inp.statement_rows
    currencies = st.groupby("ledger_date").currency.agg(lambda s: sorted(set(s.dropna())))
    out = []
    for d in inp.targets:
        cur = currencies.get(d, [])
        prev = currencies.get(d - timedelta(days=1), [])
        seen = sorted(set(cur) | set(prev))
        out.append(
            finding(
                inp.ledger_id,
                d,
                TOPIC,
                "one_currency",
                Status.PASS if len(seen) <= 1 else Status.FAIL,
                detail=", ".join(seen)
                if len(seen) <= 1
                else f"currency changes: {', '.join(seen)} on this date and the day before",
            )
        )
    return out
