"""The balance a ledger already had before its first stored date, booked once.

Without it the ledger accounts start at zero on a day the ledger did not, and every later
balance is off by that amount (1580 showed a credit balance for a ledger that held money). The
first stored date with entries of a topic books that topic's opening balance against the
chart's ``opening_balance`` account; from then on the day's movements carry the account, so
on every date the ledger account equals the ledger's closing balance.

If an earlier date is stored later, the opening moves to it the next time both days are
booked (the journal of the later day is rebooked when it is stale).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vipps_pipeline.books.journal import OPENING_TYPE, Chart
from vipps_pipeline.domain import TOPICS
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.paths import ledger_folder
from vipps_pipeline.store.schemas import JOURNAL_SCHEMA


def first_dates(data_dir: DataDir, ledger_id: str) -> dict[str, date | None]:
    """Per topic, the first stored date whose report has entries (None: none stored yet);
    reads file footers only, from the oldest file until one has rows."""
    out: dict[str, date | None] = {}
    for topic in TOPICS:
        out[topic] = None
        folder = ledger_folder(data_dir, f"reports/{topic}", ledger_id)
        if not folder.exists():
            continue
        for path in sorted(folder.glob("*/*.parquet"), key=lambda p: p.name):
            with path.open("rb") as fh:
                if pq.read_metadata(fh).num_rows:
                    out[topic] = date.fromisoformat(path.name.removesuffix(".parquet"))
                    break
    return out


def opening_lines(
    entries: pd.DataFrame, ledger_id: str, chart: Chart, firsts: dict[str, date | None]
) -> pd.DataFrame:
    """Two journal lines per topic whose first date is among ``entries``' dates and opened
    away from zero: the ledger account against the opening-balance account."""
    rows = []
    for topic, first in firsts.items():
        day = entries[(entries.topic == topic) & (entries.ledger_date == first)]
        if first is None or day.empty:
            continue
        head = day.sort_values("seq").iloc[0]
        opening = int(head.balance_before)
        if not opening:
            continue
        ledger = chart.account(chart.ledgers[topic])
        key = "opening_balance" if "opening_balance" in chart.accounts else chart.unmapped
        other = chart.account(key)
        up = opening > 0
        for account, debit in ((ledger, up), (other, not up)):
            rows.append(
                {
                    "ledger_id": ledger_id,
                    "ledger_date": first,
                    "voucher": f"{ledger_id}-{first.isoformat()}",
                    "line": -1,
                    "topic": topic,
                    "entry_type": OPENING_TYPE,
                    "account": account[0],
                    "account_name": account[1],
                    "debit": abs(opening) if debit else 0,
                    "credit": 0 if debit else abs(opening),
                    "currency": head.currency,
                    "entries": 0,
                    "psp_reference": None,
                    "text": f"{topic} balance before {first.isoformat()}",
                    "unmapped": key != "opening_balance",
                }
            )
    return pd.DataFrame(rows, columns=JOURNAL_SCHEMA.names)


def with_opening(lines: pa.Table, opening: pd.DataFrame) -> pa.Table:
    """The day's lines with the opening lines first, numbered again from 0 per date."""
    if opening.empty:
        return lines
    both = pd.concat([opening, lines.to_pandas()], ignore_index=True)
    both["_first"] = both.entry_type != OPENING_TYPE
    both = both.sort_values(["ledger_date", "_first", "line"], kind="stable")
    both["line"] = both.groupby("ledger_date").cumcount().astype("int32")
    return pa.Table.from_pandas(
        both[JOURNAL_SCHEMA.names], schema=JOURNAL_SCHEMA, preserve_index=False
    )
