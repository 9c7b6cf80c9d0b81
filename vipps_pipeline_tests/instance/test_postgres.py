"""The pipeline on PostgreSQL, with the instance configuration production uses.

Every test gets a database of its own (created here, dropped at the end, also on failure), and
a Dagster instance built from ``deploy/dagster.yaml``: its storage section, with the URL from
the environment variable the file names. The runs go against the local simulator.

PostgreSQL is found at ``TEST_PG_DSN`` (a libpq connection string; default
``host=127.0.0.1 port=5432 user=postgres dbname=test``). When it is not reachable the tests
skip, except under CI (``CI=true``), where they must run and so fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import dagster as dg
import pytest
import yaml
from dagster._core.execution.backfill import BulkActionStatus
from sqlalchemy.engine import URL, make_url

from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline_tests.support.backfills import IN_PROCESS_RUNS, LOCATION, asset_backfill
from vipps_pipeline_tests.support.clock import NOW, days
from vipps_pipeline_tests.support.dagster import (
    CHECKS,
    assert_status_equals_files,
    check_status,
    key,
    make_defs,
    run_range,
    stored,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ADMIN_DSN = os.environ.get("TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
SECRET = "pg-password-never-printed-7f3a"
"""The URL's password when TEST_PG_DSN has none: trust authentication ignores it, so it only
has to stay hidden."""
LEDGERS = ["100001", "100002", "100005"]
"""Three daily-settling ledgers: every closed day is final, so every run stores something."""

pytestmark = pytest.mark.postgres


def deploy_config() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


def url_variable() -> str:
    """The environment variable deploy/dagster.yaml reads the database URL from."""
    return deploy_config()["storage"]["custom"]["config"]["postgres_url"]["env"]


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason} (set TEST_PG_DSN, or CI=true to fail)")


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database, its SQLAlchemy URL in the variable the deploy yaml names; dropped at
    the end. Names are unique per test and per xdist worker, so workers never share one."""
    try:
        import dagster_postgres  # noqa: F401
        import psycopg2
    except ImportError as exc:
        _unavailable(f"{exc.name} is not installed (pip install -e '.[postgres]')")
    try:
        admin = psycopg2.connect(ADMIN_DSN, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        where = "TEST_PG_DSN" if "TEST_PG_DSN" in os.environ else repr(ADMIN_DSN)
        _unavailable(f"cannot connect to {where}: {str(exc).strip().splitlines()[0]}")
    admin.autocommit = True
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"vipps_test_{worker}_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    info = admin.info
    url = URL.create(
        "postgresql+psycopg2",
        username=info.user,
        password=info.password or SECRET,
        host=info.host,
        port=info.port,
        database=name,
    ).render_as_string(hide_password=False)
    monkeypatch.setenv(url_variable(), url)
    try:
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pipeline_env(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings for runs in this process, as a deployment's environment gives them."""
    env = {
        **sim.env("merchant"),
        "VIPPS_DATA_DIR": str(tmp_path / "data"),
        "VIPPS_NOW": NOW.isoformat(),
        "VIPPS_START_DATE": "2026-11-17",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "data"


def dagster_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME holding deploy/dagster.yaml verbatim."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    return home


@contextlib.contextmanager
def pg_instance(**overrides: Any) -> Iterator[dg.DagsterInstance]:
    """A test instance on the deploy yaml's storage and pools; the run launcher and
    coordinator are the test's own (runs execute synchronously in this process)."""
    config = deploy_config()
    merged = {
        "storage": config["storage"],
        "concurrency": {"pools": config["concurrency"]["pools"]},
        **overrides,
    }
    with dg.instance_for_test(overrides=merged) as instance:
        yield instance


def test_the_deploy_yaml_loads_with_its_limits_and_hides_the_url(pg_url, tmp_path):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    home = dagster_home(tmp_path)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert not instance.telemetry_enabled
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 2
        assert concurrency.pool_config.pool_granularity.value == "op"
        queue = concurrency.run_queue_config
        assert queue.max_concurrent_runs == 4
        assert queue.tag_concurrency_limits == [{"key": "dagster/backfill", "limit": 1}]
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 300
    finally:
        instance.dispose()
    dagster = Path(sys.executable).with_name("dagster")
    info = subprocess.run(
        [str(dagster), "instance", "info"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DAGSTER_HOME": str(home)},
    )
    assert info.returncode == 0, info.stderr[-3000:]
    for line in (
        "run_storage: PooledRunStorage",
        "max_concurrent_runs: 4",
        "default_limit: 2",
    ):
        assert line in info.stdout, line
    assert "Storage schema state" in info.stdout
    password = make_url(pg_url).password
    assert password and password not in info.stdout + info.stderr


def test_every_process_keeps_its_database_connections(pg_url, tmp_path):
    """Dagster's storage connects per statement outside the webserver; the deploy yaml's
    keeps one connection per storage, reused by every write, and closes them on dispose."""
    import psycopg2

    from vipps_pipeline.instance.pg_storage import PooledEventLogStorage, PooledRunStorage

    name = make_url(pg_url).database

    def backends() -> set[int]:
        with psycopg2.connect(ADMIN_DSN) as admin, admin.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            return {pid for (pid,) in cur.fetchall()}

    instance = dg.DagsterInstance.from_config(str(dagster_home(tmp_path)))
    try:
        assert isinstance(instance.run_storage, PooledRunStorage)
        assert isinstance(instance.event_log_storage, PooledEventLogStorage)
        instance.add_dynamic_partitions("ledgers", ["100001"])
        instance.get_runs()
        instance.all_instigator_state()
        first = backends()
        assert 1 <= len(first) <= 2
        for n in range(30):
            instance.add_dynamic_partitions("ledgers", [str(200000 + n)])
            instance.get_runs()
            instance.all_instigator_state()
        assert backends() == first  # the same server processes: no connect per statement
        assert len(instance.get_dynamic_partitions("ledgers")) == 31
    finally:
        instance.dispose()
    # a server process ends a moment after its client hangs up (on a slow machine, after the
    # query below has begun): each connection closed, none left open
    deadline = time.monotonic() + 10
    while backends() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backends() == set()


def test_a_plain_postgresql_url_fails_naming_the_missing_driver(pg_url, monkeypatch, tmp_path):
    """What docs/operations.md warns about: SQLAlchemy 2.1 maps postgresql:// to psycopg 3."""
    monkeypatch.setenv(url_variable(), pg_url.replace("postgresql+psycopg2://", "postgresql://"))
    with pytest.raises(ModuleNotFoundError, match="psycopg"):
        dg.DagsterInstance.from_config(str(dagster_home(tmp_path))).run_storage  # noqa: B018


def test_the_sync_job_on_postgres(pg_url, pipeline_env, tmp_path, monkeypatch):
    """`vipps-pipeline sync` (cron) on the production instance: runs, partitions, checks and
    the API pool all land in PostgreSQL."""
    from vipps_pipeline.cli.runs import run_sync

    home = dagster_home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    code, text = run_sync(LEDGERS)
    assert code == 0, text
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="vipps_sync"))
        # the ledgers dealt over one run per core (VIPPS_SYNC_RUNS' default), at once
        assert len(runs) == PipelineSettings.from_env({}).runs_for(len(LEDGERS))
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        dealt = [run.run_config["ops"]["sync_ledgers"]["config"]["ledgers"] for run in runs]
        assert sorted(lid for share in dealt for lid in share) == sorted(LEDGERS)
        counts = assert_status_equals_files(instance, pipeline_env)
        synced = days(date(2026, 11, 17), date(2026, 11, 22))
        wanted = {key(d, lid) for d in synced for lid in LEDGERS}
        assert wanted <= stored(pipeline_env, "reconciliation"), counts
        for check in CHECKS:
            shown = check_status(instance, check)
            assert shown["SUCCEEDED"] | shown["FAILED"] == stored(pipeline_env, "reconciliation")
        pool = instance.event_log_storage.get_concurrency_info("vipps_api")
        assert pool.slot_count == 2, "the deploy yaml's default limit, set on first use"
        assert pool.active_slot_count == 0, "every slot released when the run ended"
        assert make_url(pg_url).password not in text
    finally:
        instance.dispose()


def test_a_ranged_backfill_through_the_daemon_on_postgres(pg_url, pipeline_env):
    """An asset-graph backfill as the UI submits it, driven by the backfill daemon's code path,
    with the code location loaded from its module as a deployment loads it."""
    from dagster._core.test_utils import create_test_daemon_workspace_context

    with (
        pg_instance(**IN_PROCESS_RUNS) as instance,
        create_test_daemon_workspace_context(LOCATION, instance=instance) as context,
    ):
        ledgers = LEDGERS[:2]
        instance.add_dynamic_partitions("ledgers", ledgers)
        first, last = date(2026, 11, 18), date(2026, 11, 20)
        names = [key(d, lid) for d in days(first, last) for lid in ledgers]
        done = asset_backfill(instance, context, "pgrange", names)
        assert done.status == BulkActionStatus.COMPLETED_SUCCESS, done.status
        runs = instance.get_runs()
        assert len(runs) == len(ledgers), "one ranged run per ledger (single_run policy)"
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert all(r.tags.get("dagster/backfill") == "pgrange" for r in runs)
        assert_status_equals_files(instance, pipeline_env)
        assert set(names) == stored(pipeline_env, "reconciliation")
        shown = check_status(instance, "balance_continuity")
        assert shown["SUCCEEDED"] == set(names) and not shown["FAILED"]


def test_reconciliation_and_its_checks_are_recorded_on_postgres(sim, pg_url, tmp_path):
    """The main job over a range of one ledger: every reconciled day is a partition in
    PostgreSQL and each check's result is recorded against it."""
    data = tmp_path / "data"
    defs = make_defs(sim, data, start_date="2026-11-01")
    first, last = date(2026, 11, 16), date(2026, 11, 20)
    with pg_instance() as instance:
        instance.add_dynamic_partitions("ledgers", ["100003"])
        result = run_range(defs, instance, "100003", first, last)
        assert result.success
        counts = assert_status_equals_files(instance, data)
        wanted = {key(d, "100003") for d in days(first, last)}
        assert stored(data, "reconciliation") == wanted, counts
        assert set(instance.get_materialized_partitions(dg.AssetKey("reconciliation"))) == wanted
        for check in CHECKS:
            shown = check_status(instance, check)
            assert shown["SUCCEEDED"] | shown["FAILED"] == wanted, check
            ck = dg.AssetCheckKey(dg.AssetKey("reconciliation"), check)
            history = instance.event_log_storage.get_asset_check_execution_history(ck, limit=50)
            assert {r.partition for r in history} >= wanted, check
