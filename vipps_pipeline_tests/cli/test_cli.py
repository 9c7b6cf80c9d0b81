"""The README's first command, end to end, in a scratch folder."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from vipps_pipeline.books import derive as books
from vipps_pipeline.store.schemas import REPORT_SCHEMA
from vipps_pipeline_tests.support.cli import cli
from vipps_pipeline_tests.support.clock import LEDGER_IDS, NOW


@pytest.mark.slow
def test_demo_runs_the_main_job_and_prints_a_summary(tmp_path: Path):
    result = cli(
        "demo",
        "--days",
        "3",
        "--data-dir",
        str(tmp_path / "data"),
        "--dagster-home",
        str(tmp_path / "home"),
        cwd=tmp_path,
        env={"VIPPS_NOW": NOW.isoformat()},  # the monthly ledger's month still open, any day
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Parquet files under" in out and "Reconciliation," in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line[:3] == "  1"}
    assert sorted(rows) == LEDGER_IDS
    assert rows["100004"][-1] == "3", "the monthly ledger's November is not ready yet"
    assert rows["100001"][1] == "3", "three days checked"
    funds = ds.dataset(
        tmp_path / "data" / "reports" / "funds", format="parquet", schema=REPORT_SCHEMA
    )
    assert funds.count_rows() > 100
    assert (tmp_path / "home" / "history" / "runs.db").exists() or any(
        (tmp_path / "home").rglob("*.db")
    )
    assert " failed" not in out.split("Reconciliation,")[0]
    assert (tmp_path / "data" / "report" / "index.html").exists() and "Report with charts:" in out
    assert len(list((tmp_path / "data" / "journal").rglob("*.parquet"))) > 10


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path):
    result = cli(
        "run",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-02",
        "--dagster-home",
        str(tmp_path),
        cwd=tmp_path,
        env={"VIPPS_TIMEZONE": "Mars/Olympus"},
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: VIPPS_TIMEZONE must be an IANA timezone such as Europe/Oslo, got 'Mars/Olympus'"
    )


@pytest.mark.slow
def test_sync_twice_an_hour_apart_stores_and_reconciles_a_month_that_closed(tmp_path: Path):
    """The monthly ledger's October closes at 01:00 on 1 November (Oslo): the 00:17 poll finds
    it open, the 01:17 poll stores the whole month and reconciles it."""
    from datetime import UTC, datetime

    from vipps_pipeline.simulator import Simulator, World

    clock = [datetime(2026, 10, 31, 23, 17, tzinfo=UTC)]  # 00:17 in Oslo
    with Simulator(World(seed=0), clock=lambda: clock[0]) as sim:
        env = {
            **sim.env("merchant"),
            "VIPPS_DATA_DIR": str(tmp_path / "data"),
            "VIPPS_START_DATE": "2026-10-01",
            "DAGSTER_HOME": str(tmp_path / "home"),
        }
        args = ("sync", "--ledger", "100004", "--dagster-home", str(tmp_path / "home"))
        first = cli(*args, cwd=tmp_path, env={**env, "VIPPS_NOW": clock[0].isoformat()})
        assert first.returncode == 0, first.stdout + first.stderr[-3000:]
        row = next(line for line in first.stdout.splitlines() if line.startswith("  100004"))
        assert row.split()[1:3] == ["-", "2026-10-01"], row  # nothing final, open since Oct 1
        assert not list((tmp_path / "data" / "reports").rglob("*.parquet"))
        clock[0] = datetime(2026, 11, 1, 0, 17, tzinfo=UTC)  # 01:17 in Oslo
        second = cli(*args, cwd=tmp_path, env={**env, "VIPPS_NOW": clock[0].isoformat()})
        assert second.returncode == 0, second.stdout + second.stderr[-3000:]
        row = next(line for line in second.stdout.splitlines() if line.startswith("  100004"))
        assert row.split()[1:4] == ["2026-10-31", "-", "31"], row
    findings = books.read_findings(tmp_path / "data")
    assert findings.ledger_date.nunique() == 31 and (findings.status != "fail").all()


@pytest.mark.slow
def test_sync_deals_its_ledgers_over_runs_at_once_and_stores_what_one_run_stores(
    sim, tmp_path: Path, monkeypatch
):
    """``VIPPS_SYNC_RUNS=2``: two vipps_sync runs at once (one in a worker process), each
    ledger in exactly one; the files equal those of a one-run sync of the same ledgers."""
    from datetime import timedelta

    import dagster as dg

    from vipps_pipeline.domain import TOPICS

    ledgers = ["100001", "100002", "100003"]
    flags = [a for lid in ledgers for a in ("--ledger", lid)]
    out: dict[str, str] = {}
    for runs in ("1", "2"):
        home, data = tmp_path / f"home{runs}", tmp_path / f"data{runs}"
        env = {
            **sim.env("merchant"),
            "VIPPS_DATA_DIR": str(data),
            "VIPPS_START_DATE": (NOW.date() - timedelta(days=6)).isoformat(),
            "VIPPS_NOW": NOW.isoformat(),
            "VIPPS_SYNC_RUNS": runs,
        }
        result = cli("sync", *flags, "--dagster-home", str(home), cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        out[runs] = result.stdout
        monkeypatch.setenv("DAGSTER_HOME", str(home))  # the dagster.yaml the CLI wrote
        with dg.DagsterInstance.get() as instance:
            records = instance.get_run_records(dg.RunsFilter(job_name="vipps_sync"))
            assert len(records) == int(runs)
            assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
            dealt = [
                r.dagster_run.run_config["ops"]["sync_ledgers"]["config"]["ledgers"]
                for r in records
            ]
        if runs == "2":
            assert sorted(lid for share in dealt for lid in share) == ledgers
            assert all(dealt), "each run has ledgers of its own"
            assert all(r.dagster_run.run_id in result.stdout for r in records)
            labels = {r.dagster_run.tags["vipps/share"]: r.dagster_run.tags for r in records}
            assert sorted(labels) == ["1 of 2", "2 of 2"]
            assert labels["1 of 2"]["vipps/ledgers"] == "100001, 100003"
    one, two = tmp_path / "data1", tmp_path / "data2"
    for kind in [f"reports/{t}" for t in TOPICS] + ["statements", "reconciliation", "journal"]:
        files = sorted(p.relative_to(one) for p in (one / kind).rglob("*.parquet"))
        assert files, kind
        assert files == sorted(p.relative_to(two) for p in (two / kind).rglob("*.parquet"))
    rows = [[line for line in out[r].splitlines() if line.startswith("  1")] for r in ("1", "2")]
    assert rows[0] == rows[1] and len(rows[0]) == 3, out
    findings = books.read_findings(two)
    assert (findings.status != "fail").all()


def _dies_in_a_worker(ledger_ids, share="", loaded=None):
    """``sync_run`` as a worker killed mid-run would end it (the first share, in the test's
    own process, succeeds)."""
    import multiprocessing

    from vipps_pipeline.cli.runs import SyncRun

    if multiprocessing.parent_process() is not None:
        os._exit(9)
    return SyncRun("run-1", True, [], {lid: {"2026-11-23"} for lid in ledger_ids})


def test_a_sync_whose_worker_dies_fails_naming_its_ledgers_and_keeps_the_others(monkeypatch):
    from vipps_pipeline.cli import runs

    monkeypatch.setattr(runs, "sync_run", _dies_in_a_worker)
    first, lost = runs._sync_runs([["100001"], ["100002", "100003"]])
    assert first.success and first.stored == {"100001": {"2026-11-23"}}
    assert not lost.success and lost.run_id == "" and lost.stored == {}
    [error] = lost.errors
    assert "sync run 2/2 (ledgers 100002, 100003) ended in its worker" in error
    assert "BrokenProcessPool" in error, error
