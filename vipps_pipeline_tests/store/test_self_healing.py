"""Issue 19, rows 5, 6 and 10: damaged state and data files heal themselves, and a 404 is
``not_yours`` only once it has persisted from its first sighting."""

from __future__ import annotations

import json
import logging
import os
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store import state
from vipps_pipeline.store.paths import day_path, state_path
from vipps_pipeline.sync import completeness, planner
from vipps_pipeline.sync import engine as lr
from vipps_pipeline_tests.support.clock import NOW, days

START = date(2026, 10, 28)
UNTIL = date(2026, 11, 5)
"""The last date the tests sync: a short walk, all of it closed on the daily ledgers."""


def settings(data_dir: Path, now=NOW) -> PipelineSettings:
    return PipelineSettings.from_env(
        {
            "VIPPS_DATA_DIR": str(data_dir),
            "VIPPS_START_DATE": START.isoformat(),
            "VIPPS_NOW": now.isoformat(),
        }
    )


def run(work: lr.Work, client, data_dir: Path, now=NOW) -> list[lr.Event]:
    return list(
        lr.run_ledger(work, client=client, settings=settings(data_dir, now), breaker=lr.Breaker(3))
    )


def plan(data_dir: Path, ledger_id: str) -> planner.LedgerPlan:
    return planner.plan_stored(data_dir, ledger_id, start=START, until=UNTIL, window=3)


def sync(ledger_id: str, client, data_dir: Path, now=NOW) -> list[lr.Event]:
    """What `vipps-pipeline sync` does for one ledger, without Dagster."""
    dates = plan(data_dir, ledger_id).dates()
    return run(lr.Work(ledger_id, dates, sync=True), client, data_dir, now)


def of(events, kind) -> list:
    return [e for e in events if isinstance(e, kind)]


def corrupt_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


@pytest.mark.parametrize(
    "damage",
    [b'{"probes": {"funds": {"date": "2026-', b"\xff\xfe not utf-8", b'{"probes": [1, 2]}', b"[]"],
    ids=["truncated-json", "not-utf8", "probes-not-an-object", "not-an-object"],
)
def test_an_unreadable_state_file_is_quarantined_and_the_ledger_planned_again(
    sim, client, tmp_path, caplog, damage
):
    # row 5: a 49-line traceback and every sync failing until the file was deleted by hand
    data = tmp_path / "data"
    run(lr.Work("100004", tuple(days(START, date(2026, 11, 2)))), client, data)
    path = Path(state_path(data, "100004"))
    assert state.load(data, "100004").probes, "the open month's first day was probed"
    path.write_bytes(damage)

    with caplog.at_level(logging.WARNING):
        replanned = plan(data, "100004")
    [aside] = corrupt_copies(path)
    assert aside.read_bytes() == damage, "kept for a person to look at, not deleted"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0] and aside.name in warnings[0]
    # planned from what is stored: the frontier is the first day not stored
    assert replanned.frontier == date(2026, 11, 1) and replanned.open_since is None

    events = sync("100004", client, data)  # the next sync polls again and rebuilds the state
    assert not of(events, lr.DayFailed)
    assert {e.probe.ledger_date for e in of(events, lr.NotReadyFound)} == {date(2026, 11, 1)}
    assert json.loads(path.read_text())["probes"]["funds"]["date"] == "2026-11-01"
    assert plan(data, "100004").open_since == date(2026, 11, 1)


def _truncate_keeping_mtime(path: Path) -> None:
    before = path.stat()
    with open(path, "r+b") as fh:
        fh.truncate(before.st_size // 2)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_truncated_parquet_file_is_quarantined_and_its_day_fetched_again(
    sim, client, tmp_path, caplog
):
    # row 6: a truncated report failed every later sync while the ledger showed ok, and with
    # its modification time kept the sync exited 0 and trusted it
    data = tmp_path / "data"
    run(lr.Work("100001", tuple(days(START, UNTIL))), client, data)
    sync("100001", client, data)  # seen once: every footer verified and remembered
    funds = Path(day_path(data, "reports/funds", "100001", date(2026, 11, 3)))
    statement = Path(day_path(data, "statements", "100001", date(2026, 11, 4)))
    rows = pq.read_metadata(funds).num_rows
    _truncate_keeping_mtime(funds)
    _truncate_keeping_mtime(statement)
    # the next `vipps-pipeline sync` is a new process: no plan remembered from this one (within
    # one process a folder untouched for 2 s is trusted, and a file edited in place is not seen)
    planner._plan_unchanged.cache_clear()

    with caplog.at_level(logging.WARNING):
        events = sync("100001", client, data)
    assert len(corrupt_copies(funds)) == 1 and len(corrupt_copies(statement)) == 1
    named = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(funds) in m for m in named) and any(str(statement) in m for m in named)
    assert not of(events, lr.DayFailed)
    stored = {(e.topic, e.ledger_date) for e in of(events, lr.ReportStored)}
    assert ("funds", date(2026, 11, 3)) in stored, "the truncated day was fetched again"
    assert pq.read_metadata(funds).num_rows == rows
    assert date(2026, 11, 4) in {e.ledger_date for e in of(events, lr.StatementStored)}
    assert pq.read_metadata(statement).num_rows == 2
    assert plan(data, "100001").final_through == UNTIL


def test_each_footer_is_read_once_per_size_and_mtime(sim, client, tmp_path, monkeypatch):
    data = tmp_path / "data"
    run(lr.Work("100001", tuple(days(date(2026, 11, 1), date(2026, 11, 3)))), client, data)
    read: list[str] = []
    real = completeness.parquet_problem
    monkeypatch.setattr(completeness, "parquet_problem", lambda p: read.append(p) or real(p))

    first = completeness.scan(data, "100001", verify=True)
    files = sum(len(v) for v in first.files.values())
    assert files == 5 * 3 and len(read) <= files  # the run's own scans verified some already
    read.clear()
    assert completeness.scan(data, "100001", verify=True).files == first.files
    assert read == [], "an unchanged file is trusted from the record"

    path = Path(day_path(data, "journal", "100001", date(2026, 11, 2)))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))  # a restore
    completeness.scan(data, "100001", verify=True)
    assert read == [str(path)], "a changed (size, mtime) is read again"

    (data / "state" / "verified" / "100001.json").write_text("{broken")  # only a cache
    read.clear()
    assert completeness.scan(data, "100001", verify=True).dates("journal") == first.dates("journal")
    assert len(read) == files, "a lost record costs one more read of each footer, nothing else"


def test_one_transient_404_on_an_old_date_is_not_not_yours(sim, client, tmp_path):
    # row 10: the first-poll fault marked 6 of 7 ledgers not_yours (the dates were old)
    data = tmp_path / "data"
    sim.faults.not_ready_polls = 1
    events = sync("100001", client, data)
    [first] = {e.probe for e in of(events, lr.NotReadyFound) if e.probe.topic == "funds"}
    assert first.reason == "404" and first.ledger_date == START
    assert (NOW.date() - first.ledger_date).days > 7, "an old date: its age alone would alarm"
    row = planner.freshness(
        plan(data, "100001"), today=NOW.date(), stale_days=62, persistent_404_days=7
    )
    assert row.status == "open"
    sync("100001", client, data)  # the first-poll fault: every date's first answer is a 404
    assert plan(data, "100001").final_through == START


def test_a_404_that_persists_from_its_first_sighting_is_not_yours(sim, client, tmp_path):
    data = tmp_path / "data"
    sim.faults.not_ready_polls = 2
    week_ago = NOW - timedelta(days=8)

    def status(now) -> planner.Freshness:
        return planner.freshness(
            plan(data, "100001"),
            today=now.date(),
            stale_days=62,
            persistent_404_days=7,
        )

    sync("100001", client, data, now=week_ago)  # first sighting, eight days ago
    assert status(week_ago).status == "open"
    sync("100001", client, data)  # still 404 today: first_seen is kept
    probe = state.load(data, "100001").probes["funds"]
    assert probe.first_seen.date() == week_ago.date() and probe.last_seen.date() == NOW.date()
    lost = status(NOW)
    assert lost.status == "not_yours" and "8 days after the first 404" in lost.detail
    sync("100001", client, data)  # the date answers at last: the alarm clears
    after = status(NOW)
    assert after.status == "open" and after.final_through == START, "the next date's first 404"
