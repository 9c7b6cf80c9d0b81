"""The tables the sync keeps: equal to the landing files, replaced per ledger-day, repaired
after a kill, safe under concurrent writers, compacted, and readable as they stood then."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vipps_pipeline.lake import commit as lake
from vipps_pipeline.lake import large
from vipps_pipeline.lake.tables import DAY_TABLES, open_table, table_rows
from vipps_pipeline.lake.upkeep import compact_all
from vipps_pipeline.outputs.query import QUESTIONS, connect
from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.simulator import World
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.paths import report_path
from vipps_pipeline.store.schemas import REPORT_SCHEMA
from vipps_pipeline.sync import completeness
from vipps_pipeline.sync import engine as lr
from vipps_pipeline_tests.support.books import store
from vipps_pipeline_tests.support.clock import NOW, days
from vipps_pipeline_tests.support.dagster import make_defs, sync
from vipps_pipeline_tests.support.lake import RUN_LEDGER, assert_tables_equal_landing

REPO = Path(__file__).resolve().parents[2]
OCTOBER = days(date(2026, 10, 1), date(2026, 10, 31))


def settings(data_dir: Path) -> PipelineSettings:
    return PipelineSettings.from_env(
        {
            "VIPPS_DATA_DIR": str(data_dir),
            "VIPPS_START_DATE": "2026-10-01",
            "VIPPS_NOW": NOW.isoformat(),
        }
    )


def run(work: lr.Work, client, data_dir: Path) -> list[lr.Event]:
    return list(
        lr.run_ledger(work, client=client, settings=settings(data_dir), breaker=lr.Breaker(3))
    )


@pytest.mark.slow
def test_a_run_commits_once_per_table_and_chunk_and_a_refetch_replaces_never_doubles(
    sim, client, tmp_path
):
    work = lr.Work("100001", tuple(days(date(2026, 10, 1), date(2026, 11, 10))))
    events = run(work, client, tmp_path)
    assert not [e for e in events if isinstance(e, lr.DayFailed)]
    counts = assert_tables_equal_landing(tmp_path)
    assert all(n > 0 for n in counts.values()), counts
    chunks = sum(isinstance(e, lr.ChunkDone) for e in events)
    assert chunks == 2
    for name in counts:  # one commit per chunk, not one per ledger-day
        writes = [h for h in open_table(tmp_path, name).history() if h["operation"] == "WRITE"]
        assert len(writes) == chunks, (name, len(writes))

    again = lr.Work("100001", tuple(days(date(2026, 10, 20), date(2026, 10, 25))))
    run(again, client, tmp_path)  # explicit: fetched and derived again, files rewritten
    assert assert_tables_equal_landing(tmp_path) == counts


def test_a_day_whose_file_changed_or_went_is_replaced_in_the_table(tmp_path):
    world = World(seed=0)
    stored = store(world, tmp_path, "100001", OCTOBER)
    inv = completeness.scan(tmp_path, "100001")
    assert lake.commit_ledger(tmp_path, "100001", inv.files) == {"entries": len(stored)}
    assert lake.commit_ledger(tmp_path, "100001", inv.files) == {}, "nothing due: nothing opened"
    before = table_rows(tmp_path, "entries")
    one = report_path(tmp_path, "funds", "100001", date(2026, 10, 5))
    write_table(one, REPORT_SCHEMA.empty_table())  # the day now has no entries
    report_path(tmp_path, "fees", "100001", date(2026, 10, 6)).unlink()
    inv = completeness.scan(tmp_path, "100001")
    assert lake.commit_ledger(tmp_path, "100001", inv.files) == {"entries": 2}
    assert_tables_equal_landing(tmp_path)
    after = table_rows(tmp_path, "entries")
    assert 0 < after.num_rows < before.num_rows


KILLED_RUN = (
    """
import os, signal, sys
from datetime import date, timedelta
from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.lake import commit
from vipps_pipeline.settings import ApiSettings, PipelineSettings
from vipps_pipeline.sync import engine as lr

calls = []
real = commit.replace_days

def replace_days(*args, **kwargs):
    calls.append(args)
    if len(calls) == int(os.environ["KILL_AT"]):  # the day's files are written, not committed
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)

commit.replace_days = replace_days
"""
    + RUN_LEDGER
)


def test_a_commit_too_large_for_deltas_writer_is_written_by_pyarrow_and_lands_the_same_rows(
    tmp_path, monkeypatch
):
    """Above ``STREAM_ROWS`` a commit's files are written by pyarrow a row group at a time and
    added in one transaction (Delta's writer holds what it is given). The table must end up
    the same: a re-fetched day replaced, never doubled, the other days of the files it shared
    kept, and the statistics good enough for delta-rs's own later replace and compaction."""
    import deltalake

    real, given = deltalake.write_deltalake, []

    def spy(uri, data, **kwargs):
        given.append(uri)
        return real(uri, data, **kwargs)

    monkeypatch.setattr(deltalake, "write_deltalake", spy)
    monkeypatch.setattr(lake, "STREAM_ROWS", 10)
    monkeypatch.setattr(large, "GROUP_ROWS", 7)  # several row groups per file
    world = World(seed=0)
    stored = store(world, tmp_path, "100001", OCTOBER)
    inv = completeness.scan(tmp_path, "100001")
    assert lake.commit_ledger(tmp_path, "100001", inv.files) == {"entries": len(stored)}
    assert given == [], "no commit went through Delta's writer"
    assert_tables_equal_landing(tmp_path)
    entries = open_table(tmp_path, "entries")
    [file] = entries.file_uris()
    assert pq.ParquetFile(file).metadata.num_row_groups > 1
    [added] = pa.table(entries.get_add_actions(flatten=True)).to_pylist()
    assert added["num_records"] == table_rows(tmp_path, "entries").num_rows
    assert (added["min.ledger_date"], added["max.ledger_date"]) == (OCTOBER[0], OCTOBER[-1])
    assert added["null_count.reference"] == 0 and added["null_count.name"] > 0

    one = report_path(tmp_path, "funds", "100001", date(2026, 10, 5))
    write_table(one, pq.read_table(one))  # re-fetched: replaced, never doubled
    inv = completeness.scan(tmp_path, "100001")
    assert lake.commit_ledger(tmp_path, "100001", inv.files) == {"entries": 1}
    assert_tables_equal_landing(tmp_path)
    assert len(open_table(tmp_path, "entries").file_uris()) == 2  # the others, and the day
    assert given == []

    monkeypatch.setattr(lake, "STREAM_ROWS", 100_000)  # delta-rs's replace, pruning by stats
    two = report_path(tmp_path, "fees", "100001", date(2026, 10, 20))
    write_table(two, pq.read_table(two))
    inv = completeness.scan(tmp_path, "100001")
    assert lake.commit_ledger(tmp_path, "100001", inv.files) == {"entries": 1}
    assert given, "this one went through Delta's writer"
    assert_tables_equal_landing(tmp_path)
    compact_all(tmp_path, retention_days=7)
    assert_tables_equal_landing(tmp_path)


def test_a_large_commit_that_loses_a_race_deletes_its_files_and_succeeds_when_retried(
    tmp_path, monkeypatch
):
    """A compaction committed between a large commit's read and its own commit removed the
    files it replaces: Delta rejects the commit, the files it wrote go, and the retry from a
    fresh read lands the day once."""
    from deltalake.exceptions import CommitFailedError

    monkeypatch.setattr(lake, "STREAM_ROWS", 10)
    store(World(seed=0), tmp_path, "100001", OCTOBER)
    inv = completeness.scan(tmp_path, "100001")
    monkeypatch.setattr(lake, "COMMIT_DAYS", 10)  # several files for the compaction to merge
    lake.commit_ledger(tmp_path, "100001", inv.files)
    stale = open_table(tmp_path, "entries")
    compact_all(tmp_path, retention_days=7)
    folder = tmp_path / "tables" / "entries" / "ledger_id=100001"
    before = sorted(folder.iterdir())
    spec = DAY_TABLES[0]
    day = [date(2026, 10, 5)]
    monkeypatch.setattr(large, "_open_or_create", lambda *_: stale)
    with pytest.raises(CommitFailedError):
        rows = lake.day_rows(tmp_path, spec, "100001", day)
        large.replace_large(tmp_path, spec, "100001", day, rows, lake.day_predicate("100001", day))
    assert sorted(folder.iterdir()) == before, "the failed attempt's files were deleted"
    assert_tables_equal_landing(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(lake, "STREAM_ROWS", 10)
    lake.replace_days(tmp_path, spec, "100001", day)
    assert_tables_equal_landing(tmp_path)


KILLED_LARGE_COMMIT = """
import os, signal, sys
from pathlib import Path
from vipps_pipeline.lake import commit, large
from vipps_pipeline.sync import completeness

def killed(*args, **kwargs):  # the files written, the commit not made
    os.kill(os.getpid(), signal.SIGKILL)

commit.STREAM_ROWS, large._commit = 10, killed
data = Path(sys.argv[1])
commit.commit_ledger(data, "100001", completeness.scan(data, "100001").files)
"""


@pytest.mark.slow
def test_a_large_commit_killed_before_its_log_entry_is_made_again_by_the_next(
    tmp_path, monkeypatch
):
    """Killed with its file written and no log entry: the table holds nothing of the days,
    the record says nothing was committed, and the next commit lands every row once."""
    stored = store(World(seed=0), tmp_path, "100001", OCTOBER)
    done = subprocess.run(
        [sys.executable, "-c", KILLED_LARGE_COMMIT, str(tmp_path)], cwd=REPO, check=False
    )
    assert done.returncode == -9
    assert table_rows(tmp_path, "entries").num_rows == 0
    assert list((tmp_path / "tables" / "entries" / "ledger_id=100001").glob("*.parquet"))
    monkeypatch.setattr(lake, "STREAM_ROWS", 10)
    inv = completeness.scan(tmp_path, "100001")
    assert lake.commit_ledger(tmp_path, "100001", inv.files) == {"entries": len(stored)}
    assert_tables_equal_landing(tmp_path)


@pytest.mark.slow
@pytest.mark.fsync
@pytest.mark.parametrize("kill_at", [1, 5, 6])
def test_a_kill_between_the_files_and_the_commit_is_repaired_by_the_next_sync(
    sim, tmp_path, kill_at
):
    """Killed before any commit (the first month stored), before the second chunk's first
    commit and between two tables' commits of one chunk (both months stored): the next sync
    (in the last two cases with nothing to fetch for the ledger) brings every table in line
    with the landing files."""
    data = tmp_path / "data"
    env = {
        **os.environ,
        **sim.env("merchant"),
        "VIPPS_DATA_DIR": str(data),
        "VIPPS_START_DATE": "2026-10-01",
        "VIPPS_NOW": NOW.isoformat(),
        "KILL_AT": str(kill_at),
    }
    done = subprocess.run([sys.executable, "-c", KILLED_RUN], env=env, cwd=REPO, check=False)
    assert done.returncode == -9
    assert (data / "journal" / "100001" / "2026" / "2026-10-31.parquet").exists()
    with pytest.raises(AssertionError):
        assert_tables_equal_landing(data)
    pages = sim.counters["report_pages"]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("ledgers", ["100001"])
        assert sync(make_defs(sim, data), instance, ledgers=["100001"]).success
    if kill_at > len(DAY_TABLES):  # every day was stored before the kill: only the tables
        # only the open date asked, once per topic: the tables were repaired from the files
        assert sim.counters["report_pages"] - pages == 2
    counts = assert_tables_equal_landing(data)
    assert all(n > 0 for n in counts.values()), counts
    files = completeness.scan(data, "100001").files
    assert all(not lake.due_days(files, lake.committed(data, "100001"), s) for s in DAY_TABLES)


COMMITTER = """
import json, os, sys
from pathlib import Path
from vipps_pipeline.lake import commit
from vipps_pipeline.sync import completeness
commit.COMMIT_DAYS = 1  # a commit per day: as many races as possible
data, ledger = Path(sys.argv[1]), sys.argv[2]
files = completeness.scan(data, ledger).files
print(json.dumps(commit.commit_ledger(data, ledger, files)))
"""


@pytest.mark.slow
def test_two_ledgers_committing_to_one_table_at_once_lose_nothing(tmp_path):
    world = World(seed=0)
    ledgers = ["100001", "100002", "100003"]
    for ledger_id in ledgers:
        store(world, tmp_path, ledger_id, OCTOBER[:20])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COMMITTER, str(tmp_path), ledger_id],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for ledger_id in ledgers
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all(json.loads(o.splitlines()[-1]) == {"entries": 20} for o in outs)
    assert_tables_equal_landing(tmp_path)
    writes = [h for h in open_table(tmp_path, "entries").history() if h["operation"] == "WRITE"]
    entries = table_rows(tmp_path, "entries")
    with_rows = set(
        zip(entries["ledger_id"].to_pylist(), entries["ledger_date"].to_pylist(), strict=True)
    )
    assert len(writes) == len(with_rows) > 2 * 20  # a day with no entries deletes nothing


@pytest.mark.slow
def test_compaction_bounds_the_files_and_time_travel_answers_as_it_stood(tmp_path):
    world = World(seed=0)
    for ledger_id in ("100001", "100002"):
        stored = store(world, tmp_path, ledger_id, OCTOBER)
        monkey_days = lake.COMMIT_DAYS
        lake.COMMIT_DAYS = 3  # many small commits, as a month of hourly syncs leaves
        try:
            lake.commit_ledger(tmp_path, ledger_id, completeness.scan(tmp_path, ledger_id).files)
        finally:
            lake.COMMIT_DAYS = monkey_days
    question = QUESTIONS["fees paid per month"]
    answer = connect(tmp_path).execute(question).fetchall()
    before = len(open_table(tmp_path, "entries").file_uris())
    time.sleep(0.01)
    closed_at = datetime.now(UTC)
    time.sleep(0.01)

    # a correction after the close: one day of fees re-fetched with different rows
    day = report_path(tmp_path, "fees", "100001", stored[3])
    fees = pq.read_table(day, schema=REPORT_SCHEMA)
    assert fees.num_rows > 1
    write_table(day, fees.slice(0, 1))
    lake.commit_ledger(tmp_path, "100001", completeness.scan(tmp_path, "100001").files)
    assert connect(tmp_path).execute(question).fetchall() != answer
    assert connect(tmp_path, as_of=closed_at).execute(question).fetchall() == answer

    done = {u.table: u for u in compact_all(tmp_path, retention_days=30)}
    entries = done["entries"]
    assert entries.files_before == before > 2 and entries.files_after == 2  # one per ledger
    assert_tables_equal_landing(tmp_path)
    # readers see the same rows after compaction, and the close is still reproducible
    assert connect(tmp_path, as_of=closed_at).execute(question).fetchall() == answer


def test_query_as_of_answers_from_the_tables_as_they_stood(tmp_path, capsys):
    from vipps_pipeline.cli.main import main

    store(World(seed=0), tmp_path, "100001", OCTOBER[:5])
    lake.commit_ledger(tmp_path, "100001", completeness.scan(tmp_path, "100001").files)
    sql = "select count(*) as n from entries"
    capsys.readouterr()
    for as_of, expected in (("2020-01-01", "0"), ("2100-01-01T00:00+01:00", None)):
        assert main(["query", sql, "--data-dir", str(tmp_path), "--as-of", as_of]) == 0
        count = capsys.readouterr().out.splitlines()[1].strip()
        assert count == (expected or str(table_rows(tmp_path, "entries").num_rows)), as_of
    assert main(["query", sql, "--data-dir", str(tmp_path), "--as-of", "last week"]) == 2
    assert "--as-of must be an ISO 8601 time" in capsys.readouterr().err
