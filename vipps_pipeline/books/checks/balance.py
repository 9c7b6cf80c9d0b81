"""Balance continuity: every amount moves the balance exactly, from entry to entry and day to day.

One finding per ledger, topic and target date for each check. The cross-day check looks back
over quiet days (stored and empty) to the last day with entries, and says ``unknown`` when a
day that could hold the answer is not stored rather than guessing.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from vipps_pipeline.books.checks.base import CheckInputs, check, entry, grouped, listed
from vipps_pipeline.domain import Status, finding

BALANCE_GROUP = "balance_continuity"
CHAIN_LOOKBACK_DAYS = 62
"""How far back the cross-day check looks for the last day with entries, across quiet days."""

SIGNS: dict[str, dict[str, int]] = {
    "funds": {
        "capture": 1,
        "refund": -1,
        "payout-scheduled": -1,
        "scheduled-for-payout": -1,
        "payout-aborted": 1,
        "retained-disputed-capture": -1,
        "returned-disputed-capture": 1,
        "top-up": 1,
    },
    "fees": {"capture-fee": -1, "service-fee": -1},
}
"""The documented direction of each entry type whose direction never changes (amount is the
effect on that ledger's balance). ``fees-retained``, ``correction``, ``credit-note`` and
``fees-invoiced`` may go either way, and unknown types are never judged."""

_FLAT_SIGNS = {f"{topic}/{t}": sign for topic, types in SIGNS.items() for t, sign in types.items()}


@check(
    BALANCE_GROUP,
    "row_arithmetic",
    "Every entry's balance after equals its balance before plus its amount.",
)
def row_arithmetic(inp: CheckInputs) -> list[dict]:
    e = inp.entries
    arith_by = grouped(e[(e.balance_before + e.amount != e.balance_after).fillna(False)])
    out = []
    for topic, d in inp.keys:
        g = arith_by.get((topic, d))
        if g is None:
            out.append(finding(inp.ledger_id, d, topic, "row_arithmetic", Status.PASS))
            continue
        r = g[0]
        problems = [
            f"{entry(x)}: {x['balance_before']} + {x['amount']} != {x['balance_after']}" for x in g
        ]
        out.append(
            finding(
                inp.ledger_id,
                d,
                topic,
                "row_arithmetic",
                Status.FAIL,
                r["balance_before"] + r["amount"],
                r["balance_after"],
                listed(problems),
            )
        )
    return out


@check(
    BALANCE_GROUP,
    "chain_within_day",
    "Each entry starts from the balance the previous entry ended at.",
)
def chain_within_day(inp: CheckInputs) -> list[dict]:
    e = inp.entries
    prev_after = e.groupby(["topic", "ledger_date"], sort=False).balance_after.shift()
    chain_mask = (prev_after.notna() & (e.balance_before != prev_after)).fillna(False)
    chain_by = grouped(e[chain_mask].assign(prev_after=prev_after[chain_mask]))
    out = []
    for topic, d in inp.keys:
        g = chain_by.get((topic, d))
        if g is None:
            out.append(finding(inp.ledger_id, d, topic, "chain_within_day", Status.PASS))
            continue
        problems = [
            f"{entry(x)} starts at {x['balance_before']}, previous entry ended at {x['prev_after']}"
            for x in g
        ]
        out.append(
            finding(
                inp.ledger_id,
                d,
                topic,
                "chain_within_day",
                Status.FAIL,
                g[0]["prev_after"],
                g[0]["balance_before"],
                listed(problems),
            )
        )
    return out


@check(
    BALANCE_GROUP,
    "day_movement",
    "The day's amounts add up to its closing balance minus its opening balance.",
)
def day_movement(inp: CheckInputs) -> list[dict]:
    out = []
    for topic, d in inp.keys:
        day = inp.day_totals.get((topic, d))
        if day is None:
            out.append(
                finding(inp.ledger_id, d, topic, "day_movement", Status.PASS, 0, 0, "no entries")
            )
            continue
        _, opening, closing, moved, _, _ = day
        opening, closing, moved = int(opening), int(closing), int(moved)
        out.append(
            finding(
                inp.ledger_id,
                d,
                topic,
                "day_movement",
                Status.PASS if opening + moved == closing else Status.FAIL,
                closing - opening,
                moved,
                f"opening {opening}, closing {closing}, amounts sum {moved}",
            )
        )
    return out


@check(
    BALANCE_GROUP,
    "chain_across_days",
    "The day opens at the balance the previous ledger date closed at.",
)
def chain_across_days(inp: CheckInputs) -> list[dict]:
    """A day opens where the last day with entries closed, when every day between is stored
    and empty (quiet days); ``unknown`` when a day that could hold the answer is not stored."""
    by_key = {(r.topic, r.ledger_date): r for r in inp.statement_rows.itertuples()}
    check_name, out = "chain_across_days", []
    for topic, d in inp.keys:
        today = by_key.get((topic, d))
        if today is None or pd.isna(today.opening_balance):
            out.append(
                finding(
                    inp.ledger_id,
                    d,
                    topic,
                    check_name,
                    Status.PASS,
                    detail="no entries on this date",
                )
            )
            continue
        if d <= inp.first_date:
            why = "first date of the stored history"
            out.append(finding(inp.ledger_id, d, topic, check_name, Status.UNKNOWN, detail=why))
            continue
        prev, quiet, why = _last_close(by_key, topic, d, inp.first_date)
        if prev is None:
            out.append(finding(inp.ledger_id, d, topic, check_name, Status.UNKNOWN, detail=why))
            continue
        p, closed = prev
        opened = int(today.opening_balance)
        between = f" ({quiet} quiet day{'s' if quiet != 1 else ''} between)" if quiet else ""
        out.append(
            finding(
                inp.ledger_id,
                d,
                topic,
                check_name,
                Status.PASS if closed == opened else Status.FAIL,
                closed,
                opened,
                f"{p} closed at {closed}, {d} opened at {opened}{between}",
            )
        )
    return out


def _last_close(
    by_key: dict, topic: str, d: date, first_date: date
) -> tuple[tuple[date, int] | None, int, str]:
    """(date and closing balance of the last day with entries before ``d``, quiet days between,
    why it is unknown); walks back over stored empty days only."""
    quiet = 0
    for back in range(1, CHAIN_LOOKBACK_DAYS + 1):
        p = d - timedelta(days=back)
        row = by_key.get((topic, p))
        if p < first_date:
            return None, quiet, f"no entries stored since the first date {first_date}"
        if row is None:
            return None, quiet, f"previous ledger date {p} is not stored"
        if not pd.isna(row.closing_balance):
            return (p, int(row.closing_balance)), quiet, ""
        quiet += 1
    return None, quiet, f"no entries in the {CHAIN_LOOKBACK_DAYS} days before"


@check(
    BALANCE_GROUP,
    "entry_signs",
    "Every entry of a known type moves the balance the documented way (a capture "
    "adds, a refund or a capture fee takes away).",
)
def entry_signs(inp: CheckInputs) -> list[dict]:
    e = inp.entries
    expected_sign = (e.topic + "/" + e.entry_type).map(_FLAT_SIGNS).fillna(0)
    sign_by = grouped(e[(expected_sign * e.amount < 0).fillna(False)])
    out = []
    for topic, d in inp.keys:
        wrong = sign_by.get((topic, d), [])
        problems = [
            f"{entry(x)} {x['entry_type']} has amount {x['amount']}, expected "
            f"{'positive' if SIGNS[topic][x['entry_type']] > 0 else 'negative'}"
            for x in wrong
        ]
        out.append(
            finding(
                inp.ledger_id,
                d,
                topic,
                "entry_signs",
                Status.FAIL if wrong else Status.PASS,
                detail=listed(problems),
            )
        )
    return out
