"""How B6 fills a data directory: the base ledgers through the real write path, then more
ledgers cloned from them, either as landing files (then committed a ledger-month at a time, as
the sync commits) or, for the large sizes, at the table level.

Both start the same way: ``base`` ledgers' reports are parsed from the simulator's pages and
written by the pipeline's writer, then their statements, findings and journal by
:mod:`vipps_pipeline.books.derive`, and those days committed to the tables by
:func:`vipps_pipeline.lake.commit.commit_ledger` in month chunks.

- :func:`populate` (100 ledgers x 365 days): each further ledger is a copy of a base ledger's
  landing files with its ledger id rewritten, and its days are committed a month at a time like
  the base ledgers'. Populating 1,000 ledgers x 3 years this way would take ~11 h here.
- :func:`populate_tables` (1,000 ledgers x 3 years): each further ledger is a copy of a base
  ledger's committed table rows with its ledger id rewritten, appended to the Delta tables
  ``batch`` ledgers per commit (partitioned by ledger as the commits write them). The extra
  ledgers have no landing files and no ``_committed`` record: the tables are what the questions
  read, and their files and rows are what the per-day commits would have made of the same
  landing files (before compaction they hold one file per ledger instead of one per commit).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.run import TODAY


def dates_of(n_days: int) -> list[date]:
    end = TODAY - timedelta(days=10)
    return [end - timedelta(days=k) for k in range(n_days)][::-1]


def _write_base(data: Path, n_base: int, dates: list[date]) -> list[str]:
    from benchmarks.run import write_reports
    from vipps_pipeline.books import derive as books
    from vipps_pipeline.books.journal import load_chart
    from vipps_pipeline.simulator import World
    from vipps_pipeline.simulator.model import cloned_ledgers

    ledgers = cloned_ledgers(n_base)
    world = World(seed=1, ledgers=ledgers)
    for spec in ledgers:
        write_reports(data, world, spec.ledger_id, dates)
        books.write_statements(data, spec.ledger_id, dates)
        books.write_findings(data, spec.ledger_id, dates, first_date=dates[0], window=3)
        books.write_journal(data, spec.ledger_id, dates, load_chart())
    return [s.ledger_id for s in ledgers]


def _with_ledger(table: pa.Table, ledger_id: str) -> pa.Table:
    at = table.schema.get_field_index("ledger_id")
    field = table.schema.field("ledger_id")
    return table.set_column(at, field, pa.array([ledger_id] * table.num_rows, field.type))


def _clone_ids(n_ledgers: int, n_base: int) -> list[str]:
    return [str(400001 + i) for i in range(n_ledgers - n_base)]


def _clone_files(data: Path, base: list[str], n_ledgers: int, dates: list[date]) -> list[str]:
    """More ledgers: each a copy of a base ledger's files with its own ledger id (written
    plainly: the atomic writer's temporaries and clean-up are not what is measured)."""
    from vipps_pipeline.store.paths import DAY_KINDS, day_path

    ids = _clone_ids(n_ledgers, len(base))
    for n, ledger_id in enumerate(ids):
        source = base[n % len(base)]
        for kind in DAY_KINDS:
            for d in dates:
                table = _with_ledger(pq.read_table(day_path(data, kind, source, d)), ledger_id)
                path = day_path(data, kind, ledger_id, d)
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, path)
    return base + ids


def _commit(data: Path, ids: list[str]) -> int:
    """Every ledger's landing files committed a month chunk at a time; returns the commits."""
    from vipps_pipeline.lake import commit
    from vipps_pipeline.sync import completeness

    commit.COMMIT_DAYS = 31  # a month chunk per commit, as the sync commits
    commits = 0
    for ledger_id in ids:
        files = completeness.scan(data, ledger_id).files
        done = commit.commit_ledger(data, ledger_id, files)
        commits += sum(-(-n // commit.COMMIT_DAYS) for n in done.values())
    return commits


def populate(data: Path, n_ledgers: int, n_days: int, n_base: int = 3) -> dict[str, float]:
    """The landing files of every ledger, then the tables committed a month at a time."""
    dates = dates_of(n_days)
    t = time.perf_counter()
    base = _write_base(data, min(n_base, n_ledgers), dates)
    ids = _clone_files(data, base, n_ledgers, dates)
    landed = time.perf_counter() - t
    t = time.perf_counter()
    commits = _commit(data, ids)
    return {"landed": landed, "committed": time.perf_counter() - t, "commits": commits}


def populate_tables(
    data: Path, n_ledgers: int, n_days: int, n_base: int = 3, batch: int = 25
) -> dict[str, float]:
    """The base ledgers' landing files committed a month at a time, then the other ledgers
    cloned in the tables: ``batch`` ledgers' rows appended per commit."""
    from deltalake import write_deltalake

    from vipps_pipeline.lake.tables import DAY_TABLES, PARTITION_BY, table_rows, table_uri

    dates = dates_of(n_days)
    t = time.perf_counter()
    base = _write_base(data, min(n_base, n_ledgers), dates)
    landed = time.perf_counter() - t
    t = time.perf_counter()
    commits = _commit(data, base)
    committed = time.perf_counter() - t
    t, appends = time.perf_counter(), 0
    ids = _clone_ids(n_ledgers, len(base))
    for spec in DAY_TABLES:
        rows = table_rows(data, spec.name)
        by_base = {b: rows.filter(pc.equal(rows["ledger_id"], b)).combine_chunks() for b in base}
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            parts = [
                _with_ledger(by_base[base[(start + k) % len(base)]], ledger_id)
                for k, ledger_id in enumerate(chunk)
            ]
            write_deltalake(
                table_uri(data, spec.name),
                pa.concat_tables(parts),
                mode="append",
                partition_by=PARTITION_BY,
            )
            appends += 1
    return {
        "landed": landed,
        "committed": committed,
        "commits": commits,
        "cloned": time.perf_counter() - t,
        "appends": appends,
        "clone_ledgers": len(ids),
    }
