"""The accountants' invariants as pure functions over stored report rows.

Everything is computed for many days at once with vectorised pandas operations (a year of a
ledger is one call), then turned into one finding per ledger, date, topic and check. A finding
is ``pass``, ``fail`` (the data breaks the invariant), ``unknown`` (the data needed to decide is
not stored, e.g. the previous day) or ``pending`` (a capture whose fee window is still open).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa

from vipps_pipeline.store.layout import FINDING_SCHEMA, STATEMENT_SCHEMA

PAYOUT_TYPES = ("payout-scheduled", "scheduled-for-payout")
MAX_LISTED = 10
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

FEE_SETTLEMENT_TYPES = ("fees-retained", "fees-invoiced")
"""Fees-ledger entries that settle fees rather than charge them."""

CHECKS: dict[str, str] = {
    "row_arithmetic": "Every entry's balance after equals its balance before plus its amount.",
    "chain_within_day": "Each entry starts from the balance the previous entry ended at.",
    "day_movement": "The day's amounts add up to its closing balance minus its opening balance.",
    "chain_across_days": "The day opens at the balance the previous ledger date closed at.",
    "entry_signs": "Every entry of a known type moves the balance the documented way (a capture "
    "adds, a refund or a capture fee takes away).",
    "payout_last": "A payout is the day's last funds entry and never pays out more than the "
    "balance (a rolling reserve may stay behind).",
    "fees_invoiced": "A monthly fee invoice (gross settlement) clears exactly the fee balance.",
    "fees_retained_mirror": "Fees retained from the funds equal the fees-retained on the fees "
    "ledger, with the opposite sign, on the same date; on a net-settlement ledger the fees "
    "charged that day are retained.",
    "fee_coverage": "Every capture gets at least one capture fee (same pspReference) within the "
    "fee window.",
    "fee_has_capture": "Every capture fee belongs to a capture on the same or an earlier date in "
    "the fee window.",
    "one_currency": "The funds and fees of a ledger are in one currency, the same every day.",
}


CHECK_GROUPS: dict[str, tuple[str, ...]] = {
    "balance_continuity": (
        "row_arithmetic",
        "chain_within_day",
        "day_movement",
        "chain_across_days",
        "entry_signs",
    ),
    "payouts_and_invoices": ("payout_last", "fees_invoiced"),
    "funds_vs_fees": ("fees_retained_mirror", "fee_coverage", "fee_has_capture", "one_currency"),
}
"""How the fine-grained checks of the findings dataset are shown as Dagster asset checks."""


def _finding(
    ledger_id: str,
    d: date,
    topic: str,
    check: str,
    status: str,
    expected: int | None = None,
    actual: int | None = None,
    detail: str = "",
) -> dict:
    return {
        "ledger_id": ledger_id,
        "ledger_date": d,
        "topic": topic,
        "check": check,
        "status": status,
        "expected": None if expected is None else int(expected),
        "actual": None if actual is None else int(actual),
        "detail": detail,
    }


def _listed(parts: list[str]) -> str:
    more = len(parts) - MAX_LISTED
    return "; ".join(parts[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def _entry(row: dict) -> str:
    return f"seq {row['seq']} (psp {row['psp_reference']})"


COLUMNS = [
    "ledger_id",
    "topic",
    "ledger_date",
    "seq",
    "psp_reference",
    "entry_type",
    "reference",
    "currency",
    "amount",
    "balance_before",
    "balance_after",
]
"""The report columns the rules read."""


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Report rows as a DataFrame with money in nullable Int64 (never floats)."""
    df = table.select(COLUMNS).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    df["day"] = table.column("ledger_date").cast(pa.int32()).to_numpy()
    return df.sort_values(["topic", "ledger_date", "seq"], kind="stable").reset_index(drop=True)


# --- statements ------------------------------------------------------------------------------
def _by_key(frame: pd.DataFrame, columns: list[str]) -> dict[tuple[str, date], tuple]:
    """Group aggregates as a plain dict: scalar look-ups in pandas cost microseconds each."""
    keys = zip(frame.index.get_level_values(0), frame.index.get_level_values(1), strict=True)
    values = zip(*(frame[c].tolist() for c in columns), strict=True)
    return dict(zip(keys, values, strict=True))


def day_totals(e: pd.DataFrame) -> dict[tuple[str, date], tuple]:
    """Per (topic, date): (entries, opening, closing, sum of amounts, currency, last seq).

    The one place a day's balances are aggregated: statements and the day checks share it.
    """
    return _by_key(
        e.groupby(["topic", "ledger_date"], sort=False).agg(
            entries=("seq", "size"),
            opening=("balance_before", "first"),
            closing=("balance_after", "last"),
            sum_amount=("amount", "sum"),
            currency=("currency", "first"),
            last_seq=("seq", "last"),
        ),
        ["entries", "opening", "closing", "sum_amount", "currency", "last_seq"],
    )


def day_settlement(entries: pd.DataFrame) -> dict[date, str]:
    """The settlement type each day shows by itself: ``net`` when fees were retained from the
    funds, ``gross`` when fees were invoiced. Most days show neither."""
    out = {d: "gross" for d in entries.loc[entries.entry_type == "fees-invoiced", "ledger_date"]}
    out.update(
        {d: "net" for d in entries.loc[entries.entry_type == "fees-retained", "ledger_date"]}
    )
    return out


def statements(
    entries: pd.DataFrame,
    ledger_id: str,
    stored: Iterable[tuple[str, date]],
    settlement: str | None = None,
) -> pa.Table:
    """One statement row per stored (topic, date); empty days get null balances.

    ``settlement`` is the ledger's settlement type (override or learned from its history);
    without it each day shows what its own entries suggest, or null.
    """
    e = entries
    agg = day_totals(e)
    by_type: dict[tuple[str, date], list[tuple[str, int, int]]] = {}
    typed = e.groupby(["topic", "ledger_date", "entry_type"], sort=True)["amount"].agg(
        ["size", "sum"]
    )
    for (topic, d, entry_type), n, total in zip(
        typed.index, typed["size"].tolist(), typed["sum"].tolist(), strict=True
    ):
        by_type.setdefault((topic, d), []).append((entry_type, int(n), int(total)))
    payout_rows = e.loc[
        e.entry_type.isin(PAYOUT_TYPES),
        ["topic", "ledger_date", "amount", "psp_reference", "reference", "balance_after"],
    ]
    payouts = {(t, d): rest for t, d, *rest in payout_rows.itertuples(index=False)}  # last wins
    shown = day_settlement(e)
    rows = []
    for topic, d in sorted(stored, key=lambda k: (k[1], k[0])):
        n, opening, closing, total, currency, _ = agg.get((topic, d), (0, None, None, 0, None, -1))
        types = by_type.get((topic, d), [])
        payout = payouts.get((topic, d))
        rows.append(
            {
                "ledger_id": ledger_id,
                "topic": topic,
                "ledger_date": d,
                "currency": currency,
                "entries": int(n),
                "opening_balance": None if opening is None else int(opening),
                "closing_balance": None if closing is None else int(closing),
                "sum_amount": int(total),
                "count_by_type": [(k, c) for k, c, _ in types],
                "total_by_type": [(k, t) for k, _, t in types],
                "payout_amount": None if payout is None else -int(payout[0]),
                "payout_reference": None if payout is None else payout[1],
                "payout_text": None if payout is None else payout[2],
                "reserve_kept": None if payout is None else int(payout[3]),
                "settlement": settlement or shown.get(d),
                "complete": True,
            }
        )
    return pa.Table.from_pylist(rows, schema=STATEMENT_SCHEMA)


# --- checks inside one ledger-day ------------------------------------------------------------
def _grouped(frame: pd.DataFrame) -> dict[tuple[str, date], list[dict]]:
    """Rows by (topic, ledger date) as plain dicts; used only for the few rows that matter."""
    out: dict[tuple[str, date], list[dict]] = {}
    for row in frame.to_dict("records"):
        out.setdefault((row["topic"], row["ledger_date"]), []).append(row)
    return out


def _row_checks(ledger_id: str, e: pd.DataFrame, keys: list[tuple[str, date]]) -> list[dict]:
    """Row arithmetic, chain inside the day, day movement, payout last, fee invoice."""
    out: list[dict] = []
    prev_after = e.groupby(["topic", "ledger_date"], sort=False).balance_after.shift()
    chain_mask = (prev_after.notna() & (e.balance_before != prev_after)).fillna(False)
    arith_by = _grouped(e[(e.balance_before + e.amount != e.balance_after).fillna(False)])
    chain_by = _grouped(e[chain_mask].assign(prev_after=prev_after[chain_mask]))
    day = day_totals(e)
    pay_by = _grouped(e[(e.topic == "funds") & e.entry_type.isin(PAYOUT_TYPES)])
    inv_by = _grouped(e[(e.topic == "fees") & (e.entry_type == "fees-invoiced")])
    expected_sign = (e.topic + "/" + e.entry_type).map(_FLAT_SIGNS).fillna(0)
    sign_by = _grouped(e[(expected_sign * e.amount < 0).fillna(False)])
    for topic, d in keys:
        key = (topic, d)
        wrong = sign_by.get(key, [])
        out.append(
            _finding(
                ledger_id,
                d,
                topic,
                "entry_signs",
                "fail" if wrong else "pass",
                detail=_listed(
                    [
                        f"{_entry(x)} {x['entry_type']} has amount {x['amount']}, expected "
                        f"{'positive' if SIGNS[topic][x['entry_type']] > 0 else 'negative'}"
                        for x in wrong
                    ]
                ),
            )
        )
        if key in arith_by:
            g = arith_by[key]
            r = g[0]
            listed = _listed(
                [
                    f"{_entry(x)}: {x['balance_before']} + {x['amount']} != {x['balance_after']}"
                    for x in g
                ]
            )
            expected = r["balance_before"] + r["amount"]
            out.append(
                _finding(
                    ledger_id,
                    d,
                    topic,
                    "row_arithmetic",
                    "fail",
                    expected,
                    r["balance_after"],
                    listed,
                )
            )
        else:
            out.append(_finding(ledger_id, d, topic, "row_arithmetic", "pass"))
        if key in chain_by:
            g = chain_by[key]
            listed = _listed(
                [
                    f"{_entry(x)} starts at {x['balance_before']}, "
                    f"previous entry ended at {x['prev_after']}"
                    for x in g
                ]
            )
            out.append(
                _finding(
                    ledger_id,
                    d,
                    topic,
                    "chain_within_day",
                    "fail",
                    g[0]["prev_after"],
                    g[0]["balance_before"],
                    listed,
                )
            )
        else:
            out.append(_finding(ledger_id, d, topic, "chain_within_day", "pass"))
        if key in day:
            _, opening, closing, moved, _, last_seq = day[key]
            opening, closing, moved, last_seq = (
                int(opening),
                int(closing),
                int(moved),
                int(last_seq),
            )
            status = "pass" if opening + moved == closing else "fail"
            out.append(
                _finding(
                    ledger_id,
                    d,
                    topic,
                    "day_movement",
                    status,
                    closing - opening,
                    moved,
                    f"opening {opening}, closing {closing}, amounts sum {moved}",
                )
            )
        else:
            last_seq = -1
            out.append(_finding(ledger_id, d, topic, "day_movement", "pass", 0, 0, "no entries"))
        if topic == "funds":
            g = pay_by.get(key)
            if g is None:
                out.append(_finding(ledger_id, d, topic, "payout_last", "pass", detail="no payout"))
                continue
            problems = []
            for x in g:
                if x["seq"] != last_seq:
                    problems.append(
                        f"{_entry(x)} {x['entry_type']} is not the last entry "
                        f"(last is seq {last_seq})"
                    )
                if x["amount"] > 0:
                    problems.append(f"{_entry(x)} pays out a positive amount {x['amount']}")
                elif x["balance_before"] + x["amount"] < 0:
                    problems.append(
                        f"{_entry(x)} pays out {-x['amount']}, more than the balance "
                        f"{x['balance_before']} before it"
                    )
            x = g[-1]
            kept = x["balance_before"] + x["amount"]
            note = f"payout {_entry(x)} of {-x['amount']}" + (
                f", {kept} kept on the ledger (rolling reserve)" if kept > 0 else ""
            )
            out.append(
                _finding(
                    ledger_id,
                    d,
                    topic,
                    "payout_last",
                    "fail" if problems else "pass",
                    x["balance_before"],
                    -x["amount"],
                    _listed(problems) or note,
                )
            )
        else:
            g = inv_by.get(key, [])
            problems = [
                f"{_entry(x)} invoices {x['amount']}, fee balance before was {x['balance_before']}"
                for x in g
                if x["amount"] != -x["balance_before"]
            ]
            note = "invoice clears the fee balance" if g else "no invoice"
            out.append(
                _finding(
                    ledger_id,
                    d,
                    topic,
                    "fees_invoiced",
                    "fail" if problems else "pass",
                    detail=_listed(problems) or note,
                )
            )
    return out


# --- checks across days ----------------------------------------------------------------------
def _continuity(
    ledger_id: str, st: pd.DataFrame, keys: list[tuple[str, date]], first_date: date
) -> list[dict]:
    """A day opens where the last day with entries closed, when every day between is stored
    and empty (quiet days); ``unknown`` when a day that could hold the answer is not stored."""
    out = []
    by_key = {(r.topic, r.ledger_date): r for r in st.itertuples()}
    check = "chain_across_days"
    for topic, d in keys:
        today = by_key.get((topic, d))
        if today is None or pd.isna(today.opening_balance):
            out.append(
                _finding(ledger_id, d, topic, check, "pass", detail="no entries on this date")
            )
            continue
        if d <= first_date:
            out.append(
                _finding(
                    ledger_id, d, topic, check, "unknown", detail="first date of the stored history"
                )
            )
            continue
        prev, quiet, why = None, 0, ""
        for back in range(1, CHAIN_LOOKBACK_DAYS + 1):
            p = d - timedelta(days=back)
            row = by_key.get((topic, p))
            if p < first_date:
                why = f"no entries stored since the first date {first_date}"
                break
            if row is None:
                why = f"previous ledger date {p} is not stored"
                break
            if not pd.isna(row.closing_balance):
                prev = (p, int(row.closing_balance))
                break
            quiet += 1
        else:
            why = f"no entries in the {CHAIN_LOOKBACK_DAYS} days before"
        if prev is None:
            out.append(_finding(ledger_id, d, topic, check, "unknown", detail=why))
            continue
        p, closed = prev
        opened = int(today.opening_balance)
        between = f" ({quiet} quiet day{'s' if quiet != 1 else ''} between)" if quiet else ""
        out.append(
            _finding(
                ledger_id,
                d,
                topic,
                check,
                "pass" if closed == opened else "fail",
                closed,
                opened,
                f"{p} closed at {closed}, {d} opened at {opened}{between}",
            )
        )
    return out


def _funds_vs_fees(
    ledger_id: str,
    funds: pd.DataFrame,
    fees: pd.DataFrame,
    st: pd.DataFrame,
    targets: list[date],
    funds_dates: set[date],
    fees_dates: set[date],
    window: int,
    settlement: str | None,
) -> list[dict]:
    out = []
    topic = "funds_fees"
    charges = fees[~fees.entry_type.isin(FEE_SETTLEMENT_TYPES)].groupby("ledger_date").amount.sum()
    fr_funds = funds[funds.entry_type == "fees-retained"].groupby("ledger_date").amount.sum()
    fr_fees = fees[fees.entry_type == "fees-retained"].groupby("ledger_date").amount.sum()
    captures = funds.loc[
        funds.entry_type == "capture", ["ledger_date", "day", "seq", "psp_reference"]
    ]
    cfees = fees.loc[
        fees.entry_type == "capture-fee", ["ledger_date", "day", "seq", "psp_reference"]
    ]
    span = window - 1
    # capture -> its fees: covered when a fee lands within [capture day, capture day + span]
    m = captures.merge(
        cfees[["psp_reference", "day"]].rename(columns={"day": "other"}),
        on="psp_reference",
        how="left",
    )
    m["ok"] = (m.other >= m.day) & (m.other <= m.day + span)
    covered = m.groupby(["ledger_date", "seq", "psp_reference"], sort=True).ok.any().reset_index()
    uncovered = {d: g for d, g in covered[~covered.ok].groupby("ledger_date")}
    capture_counts = captures.ledger_date.value_counts().to_dict()
    # fee -> its capture: found when a capture is within [fee day - span, fee day]
    m = cfees.merge(
        captures[["psp_reference", "day"]].rename(columns={"day": "other"}),
        on="psp_reference",
        how="left",
    )
    m["ok"] = (m.other <= m.day) & (m.other >= m.day - span)
    has = m.groupby(["ledger_date", "seq", "psp_reference"], sort=True).ok.any().reset_index()
    orphans_by_day = {d: g for d, g in has[~has.ok].groupby("ledger_date")}
    currencies = st.groupby("ledger_date").currency.agg(lambda s: sorted(set(s.dropna())))
    invoiced_days = set(fees.loc[fees.entry_type == "fees-invoiced", "ledger_date"])
    if settlement is None and len(cfees) and not len(fr_fees) and not len(fr_funds):
        settlement = "gross"  # only a guess from these days: the caller knows no better
    for d in targets:
        # fees-retained mirrored on both ledgers with opposite signs
        a, b = int(fr_funds.get(d, 0)), int(fr_fees.get(d, 0))
        charged = int(charges.get(d, 0))
        if a == 0 and b == 0 and settlement == "net" and charged:
            out.append(
                _finding(
                    ledger_id,
                    d,
                    topic,
                    "fees_retained_mirror",
                    "fail",
                    -charged,
                    0,
                    f"net settlement, but the {-charged} of fees charged on this date were not "
                    "retained from the funds",
                )
            )
        elif a == 0 and b == 0:
            note = (
                "gross settlement: no fees retained, fees are invoiced monthly"
                if settlement == "gross" or d in invoiced_days
                else "no fees charged or retained on this date"
            )
            out.append(_finding(ledger_id, d, topic, "fees_retained_mirror", "pass", 0, 0, note))
        else:
            out.append(
                _finding(
                    ledger_id,
                    d,
                    topic,
                    "fees_retained_mirror",
                    "pass" if a == -b else "fail",
                    -b,
                    a,
                    f"funds fees-retained {a}, fees-ledger fees-retained {b}",
                )
            )
        # every capture gets a capture-fee within the window
        window_days = [d + timedelta(days=k) for k in range(window)]
        missing = uncovered.get(d)
        if missing is None:
            out.append(
                _finding(
                    ledger_id,
                    d,
                    topic,
                    "fee_coverage",
                    "pass",
                    detail=f"{capture_counts.get(d, 0)} captures covered",
                )
            )
        else:
            listed = _listed(
                [f"capture {_entry(x)} has no capture-fee" for x in missing.to_dict("records")]
            )
            window_stored = all(wd in fees_dates for wd in window_days)
            status = "fail" if window_stored else "pending"
            suffix = "" if window_stored else f" (fee window open until {window_days[-1]})"
            out.append(
                _finding(
                    ledger_id, d, topic, "fee_coverage", status, 0, len(missing), listed + suffix
                )
            )
        # every capture-fee has its capture
        orphans = orphans_by_day.get(d)
        if orphans is None:
            out.append(_finding(ledger_id, d, topic, "fee_has_capture", "pass"))
        else:
            back = [d - timedelta(days=k) for k in range(window)]
            stored = all(bd in funds_dates for bd in back)
            out.append(
                _finding(
                    ledger_id,
                    d,
                    topic,
                    "fee_has_capture",
                    "fail" if stored else "unknown",
                    0,
                    len(orphans),
                    _listed(
                        [
                            f"capture-fee {_entry(x)} has no capture"
                            for x in orphans.to_dict("records")
                        ]
                    )
                    + ("" if stored else f" (funds from {back[-1]} not all stored)"),
                )
            )
        # one ledger, one currency
        cur = currencies.get(d, [])
        prev = currencies.get(d - timedelta(days=1), [])
        seen = sorted(set(cur) | set(prev))
        out.append(
            _finding(
                ledger_id,
                d,
                topic,
                "one_currency",
                "pass" if len(seen) <= 1 else "fail",
                detail=", ".join(seen)
                if len(seen) <= 1
                else f"currency changes: {', '.join(seen)} on this date and the day before",
            )
        )
    return out


def reconcile(
    *,
    ledger_id: str,
    funds: pd.DataFrame,
    fees: pd.DataFrame,
    statement_rows: pd.DataFrame,
    targets: list[date],
    funds_dates: set[date],
    fees_dates: set[date],
    first_date: date,
    window: int,
    settlement: str | None = None,
) -> pa.Table:
    """All findings for ``targets`` (dates whose funds and fees are both stored).

    ``funds``/``fees`` may hold more days than ``targets`` (the fee window on either side);
    ``statement_rows`` must reach :data:`CHAIN_LOOKBACK_DAYS` before the first target, for the
    cross-day check across quiet days. ``settlement`` is the ledger's settlement type.
    """
    targets = sorted(targets)
    wanted = set(targets)
    both = pd.concat([funds, fees], ignore_index=True)
    both = both[both.ledger_date.isin(wanted)]
    keys = [(t, d) for d in targets for t in ("funds", "fees")]
    rows = _row_checks(ledger_id, both, keys)
    rows += _continuity(ledger_id, statement_rows, keys, first_date)
    rows += _funds_vs_fees(
        ledger_id, funds, fees, statement_rows, targets, funds_dates, fees_dates, window, settlement
    )
    rows.sort(key=lambda r: (r["ledger_date"], r["topic"], r["check"]))
    return pa.Table.from_pylist(rows, schema=FINDING_SCHEMA)


def summarize(findings: pd.DataFrame) -> pd.DataFrame:
    """Per ledger: days checked, and days with a failure, with pending/unknown, or all passing."""
    if findings.empty:
        return pd.DataFrame(columns=["ledger_id", "days", "passed", "failed", "pending", "unknown"])
    worst = (
        findings.assign(
            rank=findings.status.map({"pass": 0, "unknown": 1, "pending": 2, "fail": 3})
        )
        .groupby(["ledger_id", "ledger_date"])["rank"]
        .max()
    )
    per = worst.groupby(level="ledger_id")
    return pd.DataFrame(
        {
            "days": per.size(),
            "passed": per.apply(lambda s: int((s == 0).sum())),
            "failed": per.apply(lambda s: int((s == 3).sum())),
            "pending": per.apply(lambda s: int((s == 2).sum())),
            "unknown": per.apply(lambda s: int((s == 1).sum())),
        }
    ).reset_index()
