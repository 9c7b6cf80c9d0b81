"""Fetch one ledger-day of one topic into one Parquet file, streaming page by page.

This is the whole ingestion step without Dagster: the assets call it per partition, the
benchmarks call it bare. Memory stays at one page whatever the size of the day, and the file
appears only once the day is complete and final (see :mod:`vipps_pipeline.storage`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.client import ReportClient
from vipps_pipeline.parse import BadReport, page_to_batch
from vipps_pipeline.storage import GDPR_COLUMNS, REPORT_SCHEMA, report_path, write_batches

PREVIEW_ROWS = 5


@dataclass
class DaySummary:
    """What was stored for one ledger-day and topic: the numbers shown in the Dagster UI."""

    ledger_id: str
    topic: str
    ledger_date: date
    path: Path
    rows: int = 0
    pages: int = 0
    counts_by_type: Counter[str] = field(default_factory=Counter)
    sum_amount: int = 0
    opening_balance: int | None = None
    closing_balance: int | None = None
    currencies: set[str] = field(default_factory=set)
    preview: list[dict] = field(default_factory=list)

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self.opening_balance is None:
            self.opening_balance = batch.column("balance_before")[0].as_py()
        self.closing_balance = batch.column("balance_after")[-1].as_py()
        self.rows += batch.num_rows
        self.sum_amount += pc.sum(batch.column("amount")).as_py() or 0
        for item in pc.value_counts(batch.column("entry_type")).to_pylist():
            self.counts_by_type[item["values"]] += item["counts"]
        self.currencies.update(pc.unique(batch.column("currency")).to_pylist())
        if len(self.preview) < PREVIEW_ROWS:
            keep = [c for c in REPORT_SCHEMA.names if c not in GDPR_COLUMNS]
            head = batch.select(keep).slice(0, PREVIEW_ROWS - len(self.preview))
            self.preview.extend(head.to_pylist())


def _batches(
    client: ReportClient, ledger_id: str, topic: str, ledger_date: date, summary: DaySummary
) -> Iterator[pa.RecordBatch]:
    seq = 0
    for page in client.iter_report_pages(ledger_id, topic, ledger_date):
        batch = page_to_batch(
            page.items,
            ledger_id=ledger_id,
            topic=topic,
            ledger_date=ledger_date,
            seq_start=seq,
            include_gdpr=client.settings.include_gdpr,
        )
        seq += batch.num_rows
        summary.pages += 1
        summary.add(batch)
        if len(summary.currencies) > 1:  # one ledger, one currency: a mix is a broken answer
            raise BadReport(
                ledger_id,
                topic,
                ledger_date,
                f"field 'currency' mixes {sorted(summary.currencies)} in one ledger",
            )
        yield batch


def fetch_day(
    client: ReportClient, data_dir: Path, ledger_id: str, topic: str, ledger_date: date
) -> DaySummary:
    """Store the final report of one ledger-day, replacing any earlier file exactly.

    Raises :class:`~vipps_pipeline.client.NotReady` (nothing written) when the day is not
    final, and :class:`~vipps_pipeline.parse.BadReport` (nothing written) on a malformed page.
    """
    path = report_path(data_dir, topic, ledger_id, ledger_date)
    summary = DaySummary(ledger_id, topic, ledger_date, path)
    write_batches(path, REPORT_SCHEMA, _batches(client, ledger_id, topic, ledger_date, summary))
    return summary
