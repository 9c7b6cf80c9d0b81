"""Fetch one ledger-day of one topic into one Parquet file, streaming page by page.

This is the whole ingestion step without Dagster: the assets call it per partition, the
benchmarks call it bare. Memory stays at a few row groups whatever the size of the day, and the
file appears only once the day is complete and final (see :mod:`vipps_pipeline.store.atomic`).

A large day is shared by threads: the client's threads fetch the next pages and read them into
Arrow, this one checks a row group of pages at a time, and the storage's writer thread encodes
and compresses the previous row group. Row groups of :data:`ROW_GROUP_ROWS` rows, against one per
page: a fifth of the writing time and a third less file, one check and one summary per row
group instead of per page.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.api.errors import BadReport
from vipps_pipeline.api.money import money_totals
from vipps_pipeline.api.pagejson import Entries
from vipps_pipeline.api.parse import page_to_batch, pages_to_batch
from vipps_pipeline.api.reports import DayWalk
from vipps_pipeline.store.atomic import write_batches
from vipps_pipeline.store.paths import report_path
from vipps_pipeline.store.schemas import GDPR_COLUMNS, REPORT_DICTIONARY, REPORT_SCHEMA

PREVIEW_ROWS = 5
ROW_GROUP_ROWS = 16 * 1024
"""Rows per Parquet row group of a report file: larger groups write no faster and no smaller,
and hold more memory (a group's pages wait in Arrow, with their bodies, until it is checked)."""


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
    abs_amount: int = 0
    opening_balance: int | None = None
    closing_balance: int | None = None
    currencies: set[str] = field(default_factory=set)
    preview: list[dict] = field(default_factory=list)

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Count in ``batch``, the next rows of the day in order (any number of rows)."""
        if batch.num_rows == 0:
            return
        if self.opening_balance is None:
            self.opening_balance = batch.column("balance_before")[0].as_py()
        self.closing_balance = batch.column("balance_after")[-1].as_py()
        self.rows += batch.num_rows
        total, absolute = money_totals(batch.column("amount"))  # exact: Arrow's sum wraps
        self.sum_amount += total
        self.abs_amount += absolute
        for item in pc.value_counts(batch.column("entry_type")).to_pylist():
            self.counts_by_type[item["values"]] += item["counts"]
        self.currencies.update(pc.unique(batch.column("currency")).to_pylist())
        if len(self.preview) < PREVIEW_ROWS:
            keep = [c for c in REPORT_SCHEMA.names if c not in GDPR_COLUMNS]
            head = batch.select(keep).slice(0, PREVIEW_ROWS - len(self.preview))
            self.preview.extend(head.to_pylist())


def _pages(
    client: ReportClient,
    ledger_id: str,
    topic: str,
    ledger_date: date,
    summary: DaySummary,
    walk: DayWalk | None = None,
) -> Iterator[pa.RecordBatch]:
    """The day's pages as batches. Pages read by Arrow are checked a row group at a time
    (:func:`~vipps_pipeline.api.parse.pages_to_batch`); any other page on its own."""
    ids = {"ledger_id": ledger_id, "topic": topic, "ledger_date": ledger_date}
    gdpr = client.settings.include_gdpr
    held: list[Entries] = []
    seq = held_rows = 0

    def flush() -> Iterator[pa.RecordBatch]:
        nonlocal seq, held, held_rows
        for batch in pages_to_batch(held, **ids, seq_start=seq, include_gdpr=gdpr):
            seq += batch.num_rows
            yield batch
        held, held_rows = [], 0

    with contextlib.closing(client.iter_report_pages(ledger_id, topic, ledger_date, walk)) as pages:
        while True:
            try:
                page = next(pages)
            except StopIteration:
                break
            except Exception:  # a bad page before this failure is reported first, as before
                yield from flush()
                raise
            summary.pages += 1
            if page.arrow is not None:
                held.append(page.arrow)
                held_rows += len(page.arrow)
                if held_rows >= ROW_GROUP_ROWS:
                    yield from flush()
                continue
            yield from flush()
            batch = page_to_batch(page.items, **ids, seq_start=seq, include_gdpr=gdpr)
            seq += batch.num_rows
            yield batch
        yield from flush()


def _row_groups(pages: Iterator[pa.RecordBatch], summary: DaySummary) -> Iterator[pa.Table]:
    """The pages' batches gathered into tables of about ROW_GROUP_ROWS rows (no copy), each
    counted into the summary before it is written."""
    held: list[pa.RecordBatch] = []
    rows = 0
    for batch in pages:
        held.append(batch)
        rows += batch.num_rows
        if rows >= ROW_GROUP_ROWS:
            yield _counted(pa.Table.from_batches(held, schema=REPORT_SCHEMA), summary)
            held, rows = [], 0
    if held:
        yield _counted(pa.Table.from_batches(held, schema=REPORT_SCHEMA), summary)


def _counted(table: pa.Table, summary: DaySummary) -> pa.Table:
    summary.add(table)
    if summary.abs_amount > 2**63 - 1:  # a wrapped sum_amount would pass the day checks
        raise BadReport(
            summary.ledger_id,
            summary.topic,
            summary.ledger_date,
            "the day's amounts add up beyond the int64 range (overflow)",
        )
    if len(summary.currencies) > 1:  # one ledger, one currency: a mix is a broken answer
        raise BadReport(
            summary.ledger_id,
            summary.topic,
            summary.ledger_date,
            f"field 'currency' mixes {sorted(summary.currencies)} in one ledger",
        )
    return table


def fetch_day(
    client: ReportClient,
    data_dir: Path,
    ledger_id: str,
    topic: str,
    ledger_date: date,
    keep: Held | None = None,
    walk: DayWalk | None = None,
) -> DaySummary:
    """Store the final report of one ledger-day, replacing any earlier file exactly.

    ``keep``: receives the rows as written, a day of one row group only (the sync commits them
    to the tables at the chunk's end without reading the file back). ``walk``: the day's walk,
    its first page possibly asked for already (:mod:`vipps_pipeline.sync.ahead`).

    Raises :class:`~vipps_pipeline.api.errors.NotReady` (nothing written) when the day is not
    final, and :class:`~vipps_pipeline.api.errors.BadReport` (nothing written) on a malformed page.
    """
    path = report_path(data_dir, topic, ledger_id, ledger_date)
    summary = DaySummary(ledger_id, topic, ledger_date, path)
    pages = _pages(client, ledger_id, topic, ledger_date, summary, walk)
    groups = _row_groups(pages, summary)
    if keep is not None:
        groups = _kept(groups, keep)
    write_batches(path, REPORT_SCHEMA, groups, REPORT_DICTIONARY)
    return summary


@dataclass
class Held:
    """A day's rows as written, held for the chunk's table commit: only a day of one row group
    (nearly every day). A larger day's rows are dropped as they are written, so memory stays at
    a row group however large the day; its commit reads the file back instead."""

    table: pa.Table | None = None
    whole: bool = True


def _kept(groups: Iterator[pa.Table], keep: Held) -> Iterator[pa.Table]:
    for number, group in enumerate(groups):
        keep.table, keep.whole = (group, True) if number == 0 else (None, False)
        yield group
