"""B6 "lake": the accountants' questions over the Delta tables, next to the same rows in one
Parquet file per table (the floor), before and after compaction, in process and end to end
through ``vipps-pipeline query`` (next to that command's process start); the HTML report's
time; file counts and storage; one ledger-day replace with and without partitioning by ledger.

How the history is populated (:mod:`benchmarks.lake_populate`): three base ledgers through the
real write path (reports parsed from the simulator's pages and written by the pipeline's
writer, statements, findings and journal by :mod:`vipps_pipeline.books.derive`, committed a
ledger-month at a time by :func:`vipps_pipeline.lake.commit.commit_ledger`). Up to 100
ledgers x 365 days the other ledgers are copies of the base ledgers' landing files with their
ledger id rewritten, committed a month at a time like them (the issue's measurement copied
files the same way). Above that (1,000 ledgers x 3 years: ~11 h that way) the other ledgers
are copies of the base ledgers' committed table rows with their ledger id rewritten, appended
to the tables 25 ledgers per commit; they have no landing files. Either way the tables are
then compacted before the "after" figures.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

os.environ.setdefault("VIPPS_FSYNC", "0")  # the page cache is enough for a benchmark's files
LARGE = 100 * 365
"""Ledger-days above which the other ledgers are cloned in the tables, and the HTML report and
the unpartitioned copy (each reads whole tables into memory) are left out."""
VIPPS = Path(sys.executable).with_name("vipps-pipeline")


def _median(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _floor(data: Path, floor: Path) -> duckdb.DuckDBPyConnection:
    """The same rows in one Parquet file per table (row groups of about a million rows, as
    pyarrow writes a whole table; streamed, so the large sizes fit in memory), and views."""
    from vipps_pipeline.lake.tables import DAY_TABLES, conform, open_table
    from vipps_pipeline.outputs.query import connect

    floor.mkdir(parents=True, exist_ok=True)
    con = connect(floor)  # empty views and the macros, then the views replaced
    for spec in DAY_TABLES:
        path = floor / f"{spec.name}.parquet"
        table = open_table(data, spec.name)
        assert table is not None, spec.name
        with pq.ParquetWriter(path, spec.schema) as out:
            held: list[pa.RecordBatch] = []
            for batch in [*table.to_pyarrow_dataset().to_batches(), None]:
                if batch is not None:
                    held.append(batch)
                if held and (batch is None or sum(b.num_rows for b in held) >= 2**20):
                    out.write_table(conform(pa.Table.from_batches(held), spec.schema))
                    held = []
        con.execute(f"create or replace view {spec.name} as select * from read_parquet('{path}')")
    return con


def cli_seconds(data: Path, sql: str, repeats: int = 5) -> float:
    """``vipps-pipeline query SQL --data-dir DATA`` in a fresh process, printing its table as
    a person sees it (to /dev/null): median wall time of ``repeats``."""

    def once() -> None:
        cmd = [str(VIPPS), "query", sql, "--data-dir", str(data)]
        subprocess.run(cmd, cwd=data.parent, stdout=subprocess.DEVNULL, check=True)

    return _median(once, repeats)


def process_start(empty: Path) -> float:
    """The process start of ``query``: ``select 1`` on an empty data directory (Python, the
    CLI, DuckDB and deltalake imported, the views created empty), median of 5."""
    empty.mkdir(parents=True, exist_ok=True)
    return cli_seconds(empty, "select 1", repeats=5)


def questions(
    data: Path, floor: duckdb.DuckDBPyConnection
) -> tuple[float, dict[str, tuple[float, float]]]:
    """Opening the five tables (``connect``: each table's log), then each ready-made question
    on that connection: (tables, floor) seconds; medians of 3."""
    from vipps_pipeline.outputs.query import QUESTIONS, connect

    opened = _median(lambda: connect(data))
    con = connect(data)
    out = {}
    for name, sql in QUESTIONS.items():
        tables = _median(lambda sql=sql: con.execute(sql).fetchall())
        single = _median(lambda sql=sql: floor.execute(sql).fetchall())
        out[name] = (tables, single)
    return opened, out


def file_counts(data: Path) -> dict[str, int]:
    from vipps_pipeline.lake.tables import DAY_TABLES, open_table

    return {s.name: len(open_table(data, s.name).file_uris()) for s in DAY_TABLES}


def size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20


def partitioning(data: Path, scratch: Path) -> dict[str, float]:
    """The entries table unpartitioned (written whole, compacted) beside the partitioned one:
    the fees question, and replacing one ledger-day on each."""
    from deltalake import DeltaTable, write_deltalake

    from vipps_pipeline.lake.commit import day_predicate
    from vipps_pipeline.lake.tables import table_rows, table_uri
    from vipps_pipeline.outputs.query import QUESTIONS

    rows = table_rows(data, "entries")
    flat = str(scratch / "entries-flat")
    write_deltalake(flat, rows)
    DeltaTable(flat).optimize.compact()
    con = duckdb.connect()
    sql = QUESTIONS["fees paid per month"].replace("-major(sum(amount), currency)", "sum(amount)")
    con.register("entries", DeltaTable(flat).to_pyarrow_dataset())
    flat_q = _median(lambda: con.execute(sql).fetchall())
    ledger_id, day = rows["ledger_id"][0].as_py(), rows["ledger_date"][0].as_py()
    one = rows.filter(
        pc.and_(pc.equal(rows["ledger_id"], ledger_id), pc.equal(rows["ledger_date"], day))
    )
    predicate = day_predicate(ledger_id, [day])

    def replace(uri: str, **kw) -> float:
        t = time.perf_counter()
        write_deltalake(uri, one, mode="overwrite", predicate=predicate, **kw)
        return time.perf_counter() - t

    return {
        "flat_query": flat_q,
        "flat_replace": replace(flat),
        "partitioned_replace": replace(table_uri(data, "entries"), partition_by=["ledger_id"]),
    }


def _populated(store: Path, n_ledgers: int, n_days: int) -> dict:
    """Populate ``store`` unless it already was (its ``populate.json`` says how and how long)."""
    from benchmarks.lake_populate import populate, populate_tables

    record = store / "populate.json"
    if record.exists():
        return json.loads(record.read_text())
    if n_ledgers * n_days > LARGE:
        filled = {"how": "tables", **populate_tables(store, n_ledgers, n_days)}
    else:
        filled = {"how": "files", **populate(store, n_ledgers, n_days)}
    record.write_text(json.dumps(filled))
    return filled


def _populate_row(filled: dict, landing: int, n_ledgers: int, n_days: int) -> str:
    per_commit = filled["committed"] / filled["commits"]
    if filled["how"] == "files":
        return (
            f"{landing:,} landing files in {filled['landed']:.0f} s; committed in "
            f"{filled['commits']:,} commits (a ledger-month per table) in "
            f"{filled['committed']:.0f} s ({per_commit:.2f} s per commit, "
            f"{filled['committed'] / n_ledgers / n_days * 1000:.0f} ms per ledger-day)"
        )
    base = n_ledgers - filled["clone_ledgers"]
    return (
        f"{base} base ledgers through the real write path: {landing:,} landing files in "
        f"{filled['landed']:.0f} s, committed in {filled['commits']:,} commits (a ledger-month "
        f"per table) in {filled['committed']:.0f} s ({per_commit:.2f} s per commit); the other "
        f"{filled['clone_ledgers']:,} ledgers cloned in the tables (the base ledgers' rows, "
        f"ledger id rewritten) in {filled['appends']:,} appends of 25 ledgers in "
        f"{filled['cloned']:.0f} s"
    )


def b6(n_ledgers: int, n_days: int, keep: Path | None = None) -> list[list[str]]:
    """B6 at one size. ``keep``: a folder the populated data stays in and is reused from on
    the next call (populating 100 ledgers x 365 days takes about 25 minutes); the figures are
    measured on a copy of its tables, so compaction leaves it as populated."""
    from vipps_pipeline.lake.upkeep import compact_all
    from vipps_pipeline.outputs.html_report import write_report
    from vipps_pipeline.outputs.query import QUESTIONS

    large = n_ledgers * n_days > LARGE
    with tempfile.TemporaryDirectory() as tmp:
        store = keep or Path(tmp, "populated")
        filled = _populated(store, n_ledgers, n_days)
        data = Path(tmp, "data")
        shutil.copytree(store / "tables", data / "tables")
        landing = sum(1 for _ in store.glob("*/*/*/*.parquet")) + sum(
            1 for _ in store.glob("reports/*/*/*/*.parquet")
        )
        floor = _floor(data, Path(tmp, "floor"))
        start = process_start(Path(tmp, "empty"))
        before_files = file_counts(data)
        opened_before, before = questions(data, floor)
        t = time.perf_counter()
        compact_all(data, retention_days=0)  # nothing kept for time travel: a full clean-up
        compacted = time.perf_counter() - t
        after_files = file_counts(data)
        opened_after, after = questions(data, floor)
        cli = {name: cli_seconds(data, name) for name in QUESTIONS}
        report = parts = None
        if not large:
            t = time.perf_counter()
            write_report(data)
            report = time.perf_counter() - t
            parts = partitioning(data, Path(tmp))
        kinds = ("reports", "statements", "reconciliation", "journal")
        landing_mb = sum(size_mb(store / k) for k in kinds)
        tables_mb = size_mb(data / "tables")
    size = f"{n_ledgers:,} ledgers x {n_days} days"
    rows = [
        [
            f"B6 lake, {size}: populate",
            _populate_row(filled, landing, n_ledgers, n_days),
            "the sync writes the landing files anyway; the commits are the added cost",
        ],
        [
            f"B6 lake, {size}: opening the tables",
            f"`connect` (five table logs read) {opened_before:.2f} s before compaction, "
            f"{opened_after:.2f} s after (median of 3); process start of `vipps-pipeline "
            f"query` ('select 1' on an empty data directory) {start:.2f} s (median of 5)",
            "paid once per `query`",
        ],
    ]
    for name in before:
        (b, fl), (a, _), e2e = before[name], after[name], cli[name]
        bound = 2 * fl + start
        verdict = [
            f"after/floor {a / fl:.1f}x; end to end {e2e:.2f} s vs 2 x floor + process start "
            f"{bound:.2f} s: {'holds' if e2e <= bound else 'does not hold'}"
        ]
        if large:
            verdict.append(f"target < 5 s end to end: {'met' if e2e < 5 else 'not met'}")
        rows.append(
            [
                f"B6 lake, {size}: '{name}'",
                f"tables {b:.3f} s before compaction, {a:.3f} s after (in process); the same "
                f"rows in one Parquet file {fl:.3f} s; `vipps-pipeline query` end to end "
                f"{e2e:.2f} s (medians of 3, end to end of 5)",
                "; ".join(verdict),
            ]
        )
    rows.append(
        [
            f"B6 lake, {size}: files and storage",
            "data files per table before compaction "
            + ", ".join(f"{k} {v:,}" for k, v in before_files.items())
            + f"; after ({compacted:.1f} s) "
            + ", ".join(f"{k} {v:,}" for k, v in after_files.items())
            + f"; tables {tables_mb:,.0f} MB, landing files {landing_mb:,.0f} MB"
            + (" (of the base ledgers only)" if filled["how"] == "tables" else ""),
            f"at most one file per ledger after compaction ({n_ledgers:,})",
        ]
    )
    if report is not None and parts is not None:
        rows.append(
            [
                f"B6 lake, {size}: HTML report and partitioning",
                f"HTML report {report:.1f} s; entries unpartitioned and compacted: fees "
                f"question (minor units) {parts['flat_query']:.2f} s, one ledger-day replaced "
                f"{parts['flat_replace']:.2f} s; partitioned by ledger: replaced "
                f"{parts['partitioned_replace']:.2f} s",
                "report target < 30 s at 100 ledgers x 365 days",
            ]
        )
    return rows
