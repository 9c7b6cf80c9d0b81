"""B6 "lake": the accountants' questions over the Delta tables, next to the same rows in one
Parquet file per table (the floor), before and after compaction; the HTML report's time; file
counts and storage; one ledger-day replace with and without partitioning by ledger.

How the history is populated: ``base`` ledgers are written through the real write path
(reports parsed from the simulator's pages and written by the pipeline's writer, then
statements, findings and journal by :mod:`vipps_pipeline.books.derive`), then copied to more
ledgers with their ledger id rewritten (the issue's measurement did the same); every ledger's
days are then committed to the tables a month at a time by :func:`vipps_pipeline.lake.commit.
commit_ledger`, as the sync commits at each month chunk's end.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.run import TODAY

os.environ.setdefault("VIPPS_FSYNC", "0")  # the page cache is enough for a benchmark's files


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


def _clone(data: Path, base: list[str], n_ledgers: int, dates: list[date]) -> list[str]:
    """More ledgers: each a copy of a base ledger's files with its own ledger id (written
    plainly: the atomic writer's temporaries and clean-up are not what is measured)."""
    from vipps_pipeline.store.paths import DAY_KINDS, day_path

    ids = [str(400001 + i) for i in range(n_ledgers - len(base))]
    for n, ledger_id in enumerate(ids):
        source = base[n % len(base)]
        for kind in DAY_KINDS:
            for d in dates:
                table = pq.read_table(day_path(data, kind, source, d))
                column = pa.array(
                    [ledger_id] * table.num_rows, table.schema.field("ledger_id").type
                )
                at = table.schema.get_field_index("ledger_id")
                table = table.set_column(at, table.schema.field("ledger_id"), column)
                path = day_path(data, kind, ledger_id, d)
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, path)
    return base + ids


def populate(data: Path, n_ledgers: int, n_days: int, n_base: int = 3) -> dict[str, float]:
    """The landing files, then the tables committed a month at a time; returns timings."""
    from vipps_pipeline.lake import commit
    from vipps_pipeline.sync import completeness

    end = TODAY - timedelta(days=10)
    dates = [end - timedelta(days=k) for k in range(n_days)][::-1]
    t = time.perf_counter()
    base = _write_base(data, min(n_base, n_ledgers), dates)
    ids = _clone(data, base, n_ledgers, dates)
    landed = time.perf_counter() - t
    commit.COMMIT_DAYS = 31  # a month chunk per commit, as the sync commits
    t, commits = time.perf_counter(), 0
    for ledger_id in ids:
        files = completeness.scan(data, ledger_id).files
        done = commit.commit_ledger(data, ledger_id, files)
        commits += sum(-(-n // commit.COMMIT_DAYS) for n in done.values())
    return {"landed": landed, "committed": time.perf_counter() - t, "commits": commits}


def _median(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _floor(data: Path, floor: Path) -> duckdb.DuckDBPyConnection:
    """The same rows in one Parquet file per table, and views over them."""
    from vipps_pipeline.lake.tables import DAY_TABLES, table_rows
    from vipps_pipeline.outputs.query import connect

    floor.mkdir(parents=True, exist_ok=True)
    con = connect(floor)  # empty views and the macros, then the views replaced
    for spec in DAY_TABLES:
        path = floor / f"{spec.name}.parquet"
        pq.write_table(table_rows(data, spec.name), path)
        con.execute(f"create or replace view {spec.name} as select * from read_parquet('{path}')")
    return con


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


SYNC = """
import json, os, time
from datetime import date
from vipps_pipeline.sync import commits, engine as lr
from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings, PipelineSettings
if os.environ["BENCH_TABLES"] == "0":  # the engine as before the tables: no chunk-end commit
    def chunk_end(work, first, inv, settings, kept):
        yield lr.ChunkDone(work.ledger_id)
    commits.chunk_end = chunk_end
if os.environ["BENCH_TABLES"] == "reread":  # the commits as first written: the ledger listed
    real_end = commits.chunk_end             # again, the chunk's files read back
    def chunk_end(work, first, inv, settings, kept):
        return real_end(work, first, None, settings, commits.lake.Kept())
    commits.chunk_end = chunk_end
settings = PipelineSettings.from_env(os.environ)
client = ReportClient(ApiSettings.from_env(os.environ))
dates = tuple(date.fromisoformat(d) for d in {dates!r})
t = time.perf_counter()
for ledger in {ledgers!r}:
    for event in lr.run_ledger(lr.Work(ledger, dates), client=client,
                               settings=settings, breaker=lr.Breaker(3)):
        assert not isinstance(event, lr.DayFailed), event
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""


def sync_overhead(n_ledgers: int, n_days: int, repeats: int) -> list[str]:
    """The engine over ``n_days`` of ``n_ledgers`` against the simulator, with and without
    its table commits, interleaved (each in a fresh process and data directory)."""
    from benchmarks.run import child, sim_env, start_simulator

    end = TODAY - timedelta(days=10)
    dates = [(end - timedelta(days=k)).isoformat() for k in range(n_days)][::-1]
    ledgers = ["100001", "100002", "100003"][:n_ledgers]
    proc, port = start_simulator({})
    runs: dict[str, list[float]] = {"0": [], "reread": [], "1": []}
    try:
        for _ in range(repeats):
            for flag in runs:
                with tempfile.TemporaryDirectory() as tmp:
                    env = {**sim_env(port), "VIPPS_DATA_DIR": tmp, "VIPPS_START_DATE": dates[0]}
                    code = SYNC.format(dates=dates, ledgers=ledgers)
                    runs[flag].append(child(code, {**env, "BENCH_TABLES": flag})["seconds"])
    finally:
        proc.kill()
    without, with_ = statistics.median(runs["0"]), statistics.median(runs["1"])
    reread = statistics.median(runs["reread"])
    return [
        f"B6 lake: sync of {n_ledgers} ledgers x {n_days} days (engine, simulator)",
        f"with the table commits {with_:.1f} s, without {without:.1f} s; the commits reading "
        f"the files back {reread:.1f} s (medians of {repeats}, interleaved)",
        f"with/without {with_ / without:.2f} (target <= 1.10); reading back/without "
        f"{reread / without:.2f}",
    ]


def b6(n_ledgers: int, n_days: int) -> list[list[str]]:
    from vipps_pipeline.lake.upkeep import compact_all
    from vipps_pipeline.outputs.html_report import write_report

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp, "data")
        filled = populate(data, n_ledgers, n_days)
        landing = sum(1 for _ in data.glob("*/*/*/*.parquet")) + sum(
            1 for _ in data.glob("reports/*/*/*/*.parquet")
        )
        floor = _floor(data, Path(tmp, "floor"))
        before_files = file_counts(data)
        opened_before, before = questions(data, floor)
        t = time.perf_counter()
        compact_all(data, retention_days=0)  # nothing kept for time travel: a full clean-up
        compacted = time.perf_counter() - t
        after_files = file_counts(data)
        opened_after, after = questions(data, floor)
        t = time.perf_counter()
        write_report(data)
        report = time.perf_counter() - t
        parts = partitioning(data, Path(tmp))
        sizes = {k: size_mb(data / k) for k in ("reports", "statements", "reconciliation")}
        tables_mb, journal_mb = size_mb(data / "tables"), size_mb(data / "journal")
    size = f"{n_ledgers} ledgers x {n_days} days"
    rows = [
        [
            f"B6 lake, {size}: populate",
            f"{landing:,} landing files in {filled['landed']:.0f} s; committed in "
            f"{filled['commits']:,} commits (a ledger-month per table) in "
            f"{filled['committed']:.0f} s ({filled['committed'] / filled['commits']:.2f} s per "
            f"commit, {filled['committed'] / n_ledgers / n_days * 1000:.0f} ms per ledger-day)",
            "the sync writes the landing files anyway; the commits are the added cost",
        ]
    ]
    rows.append(
        [
            f"B6 lake, {size}: opening the tables",
            f"`connect` (five table logs read) {opened_before:.2f} s before compaction, "
            f"{opened_after:.2f} s after (median of 3)",
            "paid once per `query`, like the process start",
        ]
    )
    for name in before:
        (b, fl), (a, _) = before[name], after[name]
        rows.append(
            [
                f"B6 lake, {size}: '{name}'",
                f"tables {b:.3f} s before compaction, {a:.3f} s after; the same rows in one "
                f"Parquet file {fl:.3f} s (medians of 3)",
                f"after/floor {a / fl:.1f}x (target within 2x plus process start)",
            ]
        )
    rows.append(
        [
            f"B6 lake, {size}: files and storage",
            "data files per table before compaction "
            + ", ".join(f"{k} {v:,}" for k, v in before_files.items())
            + f"; after ({compacted:.1f} s) "
            + ", ".join(f"{k} {v:,}" for k, v in after_files.items())
            + f"; tables {tables_mb:.0f} MB, landing files "
            + f"{sum(sizes.values()) + journal_mb:.0f} MB",
            f"at most one file per ledger after compaction ({n_ledgers})",
        ]
    )
    rows.append(
        [
            f"B6 lake, {size}: HTML report and partitioning",
            f"HTML report {report:.1f} s; entries unpartitioned and compacted: fees question "
            f"(minor units) {parts['flat_query']:.2f} s, one ledger-day replaced "
            f"{parts['flat_replace']:.2f} s; partitioned by ledger: replaced "
            f"{parts['partitioned_replace']:.2f} s",
            "report target < 30 s at 100 ledgers x 365 days",
        ]
    )
    return rows
