"""A ledger-day's statement: what the day's report rows add up to, for people and for checks.

The report rows are read into one DataFrame per call (a year of a ledger at once) with money in
nullable ``Int64``, never floats; :func:`day_totals` is the one place a day's balances are
aggregated, so the statements and the checks that compare against them cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pandas as pd
import pyarrow as pa

from vipps_pipeline.store.schemas import STATEMENT_SCHEMA

PAYOUT_TYPES = ("payout-scheduled", "scheduled-for-payout")

RULE_COLUMNS = [
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
    df = table.select(RULE_COLUMNS).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    df["day"] = table.column("ledger_date").cast(pa.int32()).to_numpy()
    return df.sort_values(["topic", "ledger_date", "seq"], kind="stable").reset_index(drop=True)


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


def _by_type(e: pd.DataFrame) -> dict[tuple[str, date], list[tuple[str, int, int]]]:
    """Per (topic, date): (entry type, count, total) sorted by type."""
    out: dict[tuple[str, date], list[tuple[str, int, int]]] = {}
    typed = e.groupby(["topic", "ledger_date", "entry_type"], sort=True)["amount"].agg(
        ["size", "sum"]
    )
    for (topic, d, entry_type), n, total in zip(
        typed.index, typed["size"].tolist(), typed["sum"].tolist(), strict=True
    ):
        out.setdefault((topic, d), []).append((entry_type, int(n), int(total)))
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
    by_type = _by_type(e)
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
