"""The "today so far" view: what the feed says about the dates the report does not cover yet.

Every date the feed has entries for and the by-date report does not yet is open: per ledger,
topic and open date the entries, sums by type and the running balance, in
``<data>/today/<ledger>.parquet``. The rows are provisional; the date's report replaces them
once it is stored. :func:`pass_report` prints the same view after a `vipps-pipeline feed` pass.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.api.errors import BadReport
from vipps_pipeline.api.money import money_totals
from vipps_pipeline.domain import TOPICS
from vipps_pipeline.feed import stream as feed
from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.objstore import read_table
from vipps_pipeline.store.paths import REPORT_KINDS, report_kind, today_path
from vipps_pipeline.store.schemas import TODAY_SCHEMA
from vipps_pipeline.sync import completeness


def _summary(table: pa.Table, record: feed.Record, d: date, as_of: datetime | None) -> dict:
    total, absolute = money_totals(table["amount"])  # exact: Arrow's sum wraps at 2**63
    if absolute > 2**63 - 1:
        raise BadReport(
            record.ledger_id,
            record.topic,
            d,
            "the feed's amounts of this date add up beyond the int64 range (overflow)",
        )
    counts: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for t, amount in zip(table["entry_type"].to_pylist(), table["amount"].to_pylist(), strict=True):
        counts[t] += 1
        totals[t] += amount
    return {
        "ledger_id": record.ledger_id,
        "topic": record.topic,
        "ledger_date": d,
        "currency": table["currency"][0].as_py(),
        "entries": table.num_rows,
        "sum_amount": total,
        "opening_balance": table["balance_before"][0].as_py(),
        "running_balance": table["balance_after"][-1].as_py(),
        "count_by_type": sorted(counts.items()),
        "total_by_type": sorted(totals.items()),
        "first_time": pc.min(table["time"]).as_py(),
        "newest_time": pc.max(table["time"]).as_py(),
        "as_of": as_of,
    }


def today_rows(
    settings: PipelineSettings,
    records: dict[str, feed.Record],
    as_of: datetime | None = None,
    previous: list[dict] | None = None,
) -> list[dict]:
    """Per topic and open date (feed entries, no report yet): entries, sums, running balance.

    A ``previous`` row with as many entries as are committed now is reused as it is (stored
    rows never change), so a pass reads only the dates that got new entries: a monthly
    ledger's whole open month is not re-read every few minutes.
    """
    ledger_id = next(iter(records.values())).ledger_id
    inv = completeness.scan(settings.data_dir, ledger_id, REPORT_KINDS)
    known = {(r["topic"], r["ledger_date"]): r for r in previous or []}
    rows = []
    for topic, record in records.items():
        for d, n in sorted(record.dates.items()):
            if n == 0 or inv.has(report_kind(topic), d):
                continue
            old = known.get((topic, d))
            if old is not None and old["entries"] == n:
                rows.append({**old, "as_of": as_of})
                continue
            table = feed.read_committed(settings.data_dir, record, d)
            if table is not None and table.num_rows:
                rows.append(_summary(table.sort_by("seq"), record, d, as_of))
    return sorted(rows, key=lambda r: (r["ledger_date"], r["topic"]))


def write_today(
    settings: PipelineSettings, records: dict[str, feed.Record], as_of: datetime | None
) -> bool:
    """Rewrite ``<data>/today/<ledger>.parquet``; True when more than ``as_of`` changed."""
    ledger_id = next(iter(records.values())).ledger_id
    path = today_path(settings.data_dir, ledger_id)
    try:
        before = read_table(path, schema=TODAY_SCHEMA)
    except (FileNotFoundError, pa.ArrowInvalid):
        before = None
    previous = before.to_pylist() if before is not None else None
    table = pa.Table.from_pylist(
        today_rows(settings, records, as_of, previous), schema=TODAY_SCHEMA
    )
    write_table(path, table)
    return before is None or not before.drop_columns(["as_of"]).equals(
        table.drop_columns(["as_of"])
    )


def stored_counts(data_dir: Path, ledger_ids: list[str]) -> dict[tuple[str, str], int]:
    """Entries stored so far per ledger and topic (to tell what a pass added)."""
    return {
        (lid, t): feed.Record.load(data_dir, lid, t).stored for lid in ledger_ids for t in TOPICS
    }


def pass_report(
    data_dir: Path, ledger_ids: list[str], before: dict[tuple[str, str], int]
) -> list[str]:
    """Per ledger and topic: entries added since ``before``, the newest entry's time, and the
    open dates so far (entries, running balance), as `vipps-pipeline feed` prints them."""
    lines = ["  ledger    topic  added  newest entry (UTC)   open dates: entries, running balance"]
    for lid in ledger_ids:
        path = today_path(data_dir, lid)
        today = read_table(path).to_pylist() if path.exists() else []
        for topic in TOPICS:
            record = feed.Record.load(data_dir, lid, topic)
            newest = f"{record.newest_time:%Y-%m-%d %H:%M:%S}" if record.newest_time else "-"
            rows = [r for r in today if r["topic"] == topic]
            open_ = "-"
            if rows:
                span = str(rows[0]["ledger_date"]) + (
                    f"..{rows[-1]['ledger_date']} ({len(rows)} dates)" if len(rows) > 1 else ""
                )
                entries = sum(r["entries"] for r in rows)
                open_ = f"{span}: {entries}, {rows[-1]['running_balance']} {rows[-1]['currency']}"
            added = record.stored - before.get((lid, topic), 0)
            lines.append(f"  {lid:<9} {topic:<6} {added:>5}  {newest:<20} {open_}")
    return lines
