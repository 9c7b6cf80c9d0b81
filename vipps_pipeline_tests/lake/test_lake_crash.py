"""A SIGKILL inside a table commit or a compaction: readers never see a half-written table, and
the next sync (or compaction) leaves every table equal to the landing files, with no file that
no commit mentions left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from vipps_pipeline.books import derive as books
from vipps_pipeline.books.journal import load_chart
from vipps_pipeline.lake import commit as lake
from vipps_pipeline.lake.tables import ALL_TABLES, DAY_TABLES, TABLES_FOLDER, open_table
from vipps_pipeline.lake.upkeep import compact_all
from vipps_pipeline.outputs.query import QUESTIONS, connect
from vipps_pipeline.simulator import World
from vipps_pipeline.sync import completeness
from vipps_pipeline_tests.support.books import store
from vipps_pipeline_tests.support.clock import NOW, days
from vipps_pipeline_tests.support.dagster import make_defs, sync
from vipps_pipeline_tests.support.lake import RUN_LEDGER, assert_tables_equal_landing

REPO = Path(__file__).resolve().parents[2]
OCTOBER = days(date(2026, 10, 1), date(2026, 10, 31))

TAKE_BACK = """
import os, signal
from pathlib import Path

def kill_before_the_log_entry(path):
    '''The state of a process killed after a commit's data files were written and before its
    log entry: the entry just written is taken back, then the process is killed.'''
    log = Path(str(path).removeprefix("file://")) / "_delta_log"
    newest = max(log.glob("*.json"), key=lambda p: int(p.stem))
    newest.unlink()
    os.kill(os.getpid(), signal.SIGKILL)
"""

KILLED_COMMIT = (
    TAKE_BACK
    + """
import deltalake
from datetime import date, timedelta
from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.lake import commit
from vipps_pipeline.settings import ApiSettings, PipelineSettings
from vipps_pipeline.sync import engine as lr

point, at = os.environ["KILL_POINT"], int(os.environ["KILL_AT"])
written, recorded = [], []
real_write, real_record = deltalake.write_deltalake, commit.write_json

def write_deltalake(uri, *args, **kwargs):
    real_write(uri, *args, **kwargs)
    written.append(uri)
    if point == "log" and len(written) == at:
        kill_before_the_log_entry(uri)

def write_json(path, value):
    if "_committed" in str(path):
        recorded.append(path)
        if point == "record" and len(recorded) == at:  # committed, not yet recorded
            os.kill(os.getpid(), signal.SIGKILL)
    return real_record(path, value)

deltalake.write_deltalake, commit.write_json = write_deltalake, write_json
"""
    + RUN_LEDGER
)


def orphans(data: Path) -> set[Path]:
    """Data files of the tables that no log entry mentions (left by a killed writer)."""
    found = set()
    for spec in ALL_TABLES:
        root = data / TABLES_FOLDER / spec.name
        mentioned = set()
        for entry in (root / "_delta_log").glob("*.json"):
            for line in entry.read_text().splitlines():
                action = json.loads(line)
                for kind in ("add", "remove"):
                    if kind in action:
                        mentioned.add(action[kind]["path"])
        on_disk = {p for p in root.rglob("*.parquet") if "_delta_log" not in p.parts}
        found |= {p for p in on_disk if str(p.relative_to(root)) not in mentioned}
    return found


def a_month_later(files: set[Path]) -> None:
    """Date files back 31 days: clean-up deletes unmentioned files only once older than the
    retention (30 days here; a concurrent writer's files are not mentioned until its commit
    lands)."""
    then = time.time() - 31 * 86400
    for p in files:
        os.utime(p, (then, then))


@pytest.mark.slow
@pytest.mark.fsync
@pytest.mark.parametrize(("point", "at"), [("log", 1), ("log", 6), ("record", 2), ("record", 5)])
def test_a_kill_inside_a_commit_is_repaired_by_the_next_sync(sim, tmp_path, point, at):
    """Killed after a commit's data files were written and before its log entry (the first
    commit, which creates the entries table; the second month's statements), and after the log
    entry and before ``_committed/<ledger>.json`` (October's statements; November's entries):
    the next sync recommits the days, every table equals the landing files, nothing is doubled,
    and the next compaction deletes the files the killed commit left behind."""
    data = tmp_path / "data"
    env = {
        **os.environ,
        **sim.env("merchant"),
        "VIPPS_DATA_DIR": str(data),
        "VIPPS_START_DATE": "2026-10-01",
        "VIPPS_NOW": NOW.isoformat(),
        "KILL_POINT": point,
        "KILL_AT": str(at),
    }
    done = subprocess.run([sys.executable, "-c", KILLED_COMMIT], env=env, cwd=REPO, check=False)
    assert done.returncode == -9
    left = orphans(data)
    assert bool(left) == (point == "log"), left
    with pytest.raises(AssertionError):
        assert_tables_equal_landing(data)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("ledgers", ["100001"])
        assert sync(make_defs(sim, data), instance, ledgers=["100001"]).success
    counts = assert_tables_equal_landing(data)
    assert all(n > 0 for n in counts.values()), counts
    files = completeness.scan(data, "100001").files
    assert all(not lake.due_days(files, lake.committed(data, "100001"), s) for s in DAY_TABLES)

    a_month_later(left)
    compact_all(data, retention_days=30)
    assert not orphans(data)
    assert_tables_equal_landing(data)


def history(data: Path, ledgers: tuple[str, ...] = ("100001", "100002")) -> None:
    """October of two ledgers, every kind, committed three days at a time (as a month of
    hourly syncs leaves the tables: many small files per ledger)."""
    world = World(seed=0)
    for ledger_id in ledgers:
        stored = store(world, data, ledger_id, OCTOBER)
        books.write_statements(data, ledger_id, stored)
        books.write_findings(data, ledger_id, stored, first_date=stored[0], window=3)
        books.write_journal(data, ledger_id, stored, load_chart())
        saved = lake.COMMIT_DAYS
        lake.COMMIT_DAYS = 3
        try:
            lake.commit_ledger(data, ledger_id, completeness.scan(data, ledger_id).files)
        finally:
            lake.COMMIT_DAYS = saved


def answers(data: Path) -> list:
    """What a reader asks: a question's answer and every view's rows and totals."""
    con = connect(data)
    out = [con.execute(QUESTIONS["fees paid per month"]).fetchall()]
    out.append(con.execute("select count(*), sum(amount) from entries").fetchall())
    for view in ("statements", "findings", "journal"):
        out.append(con.execute(f"select count(*) from {view}").fetchall())
    out.append(con.execute("select sum(debit), sum(credit) from journal").fetchall())
    return out


def data_files(data: Path) -> int:
    return sum(per_table(data).values())


def per_table(data: Path) -> dict[str, int]:
    return {s.name: len(open_table(data, s.name).file_uris()) for s in DAY_TABLES}


KILLED_COMPACTION = (
    TAKE_BACK
    + """
import sys
from deltalake import DeltaTable
from deltalake.table import TableOptimizer
from vipps_pipeline.lake.upkeep import compact_all

point, at = os.environ["KILL_POINT"], int(os.environ["KILL_AT"])
compacted, vacuumed = [], set()
real_compact, real_vacuum = TableOptimizer.compact, DeltaTable.vacuum

def compact(self, *args, **kwargs):
    out = real_compact(self, *args, **kwargs)
    compacted.append(self.table.table_uri)
    if point == "log" and len(compacted) == at:  # compacted files written, not committed
        kill_before_the_log_entry(self.table.table_uri)
    return out

def vacuum(self, *args, **kwargs):
    vacuumed.add(self.table_uri)
    if point == "vacuum" and len(vacuumed) == at:  # compacted, not cleaned up
        os.kill(os.getpid(), signal.SIGKILL)
    return real_vacuum(self, *args, **kwargs)

TableOptimizer.compact, DeltaTable.vacuum = compact, vacuum
compact_all(sys.argv[1], retention_days=0)
"""
)


@pytest.mark.slow
@pytest.mark.parametrize(("point", "at"), [("log", 1), ("log", 3), ("vacuum", 2)])
def test_a_kill_inside_a_compaction_is_invisible_and_the_next_one_finishes(tmp_path, point, at):
    """Killed after a table's compacted files were written and before the log entry (the first
    table; the third), and after a compaction's commit and before its vacuum: readers answer
    as before, and the next compaction leaves one file per ledger and table, the rows equal to
    the landing files, and no file that no commit mentions."""
    history(tmp_path)
    before, files = answers(tmp_path), per_table(tmp_path)
    assert all(n > 2 for n in files.values()), files
    env = {**os.environ, "KILL_POINT": point, "KILL_AT": str(at)}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_COMPACTION, str(tmp_path)], env=env, cwd=REPO, check=False
    )
    assert done.returncode == -9
    assert answers(tmp_path) == before
    left = orphans(tmp_path)
    assert bool(left) == (point == "log"), left
    if point == "log":  # the killed table's compaction never happened
        killed = DAY_TABLES[at - 1].name
        assert per_table(tmp_path)[killed] == files[killed]
    assert_tables_equal_landing(tmp_path)

    a_month_later(left)
    compact_all(tmp_path, retention_days=30)
    assert answers(tmp_path) == before
    assert data_files(tmp_path) == len(DAY_TABLES) * 2  # one per ledger and table
    assert not orphans(tmp_path)
    assert_tables_equal_landing(tmp_path)


COMPACTION = """
import sys
from vipps_pipeline.lake.upkeep import compact_all
compact_all(sys.argv[1], retention_days=int(sys.argv[2]))
"""


@pytest.mark.slow
def test_readers_of_a_compaction_killed_at_any_moment_see_the_same_totals(tmp_path):
    """A compaction in another process, killed by SIGKILL the moment its first compacted file
    appears, while this process keeps asking: every answer during and after equals the answer
    before, and the next compaction finishes the job."""
    history(tmp_path)
    before = answers(tmp_path)
    entries = tmp_path / TABLES_FOLDER / "entries"
    known = set(entries.rglob("*.parquet"))
    child = subprocess.Popen([sys.executable, "-c", COMPACTION, str(tmp_path), "0"], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not (set(entries.rglob("*.parquet")) - known):
            assert child.poll() is None, "the compaction ended before it was seen writing"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        child.kill()
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -9
    assert answers(tmp_path) == before
    assert_tables_equal_landing(tmp_path)
    a_month_later(orphans(tmp_path))
    compact_all(tmp_path, retention_days=30)
    assert answers(tmp_path) == before
    assert data_files(tmp_path) == len(DAY_TABLES) * 2
    assert not orphans(tmp_path)


@pytest.mark.slow
def test_readers_during_a_compaction_see_the_same_totals(tmp_path):
    """Answers asked over and over while another process compacts every table (keeping the
    default history: a vacuum deletes no file a reader that opened the table a moment ago
    still reads)."""
    history(tmp_path)
    before = answers(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", COMPACTION, str(tmp_path), "30"], cwd=REPO)
    asked = 0
    try:
        while child.poll() is None:
            assert answers(tmp_path) == before
            asked += 1
    finally:
        child.wait(timeout=120)
    assert child.returncode == 0 and asked > 0
    assert answers(tmp_path) == before
    assert data_files(tmp_path) == len(DAY_TABLES) * 2
