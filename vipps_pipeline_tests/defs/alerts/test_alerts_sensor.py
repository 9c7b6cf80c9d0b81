"""The alerts sensor against the simulator, end to end: real syncs, a real break, a local
webhook receiver. Quiet periods (a monthly ledger's open month, a negative-balance stretch)
send nothing; a break is told once, and its clearing once; no secret reaches Dagster."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vipps_pipeline.defs.alerts.sensors import vipps_alerts_sensor
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.defs.sync.plans import freshness_rows
from vipps_pipeline.simulator import Simulator, World
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.paths import report_path
from vipps_pipeline_tests.support.dagster import make_defs, sync
from vipps_pipeline_tests.support.instances import embedded_instance
from vipps_pipeline_tests.support.receivers import WebhookReceiver

pytestmark = pytest.mark.slow

QUIET_NOW = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
"""Mid-October 2026: 100004 (monthly) has October open, 100006 is in a negative-balance
stretch (open since 2026-09-01), 100001 settles daily."""
START = "2026-09-01"
BROKEN_DAY = date(2026, 10, 10)
TOKEN = "s3cr3t-token"


@pytest.fixture
def quiet_sim() -> Iterator[Simulator]:
    with Simulator(World(seed=0), clock=lambda: QUIET_NOW) as s:
        yield s


def tick(instance: dg.DagsterInstance, data_dir) -> str:
    resource = PipelineResource(data_dir=str(data_dir), start_date=START, now=QUIET_NOW.isoformat())
    with dg.build_sensor_context(instance=instance, resources={"pipeline": resource}) as context:
        result = vipps_alerts_sensor(context)
    assert isinstance(result, dg.SkipReason)
    return result.skip_message or ""


def tamper(data_dir) -> None:
    """One funds entry of BROKEN_DAY moved by 1.00: the day no longer adds up."""
    path = report_path(data_dir, "funds", "100001", BROKEN_DAY)
    table = pq.read_table(path)
    amounts = table.column("amount").to_pylist()
    amounts[0] += 100
    table = table.set_column(
        table.schema.get_field_index("amount"), "amount", pa.array(amounts, pa.int64())
    )
    write_table(path, table)


def test_quiet_periods_say_nothing_and_a_break_is_told_once(quiet_sim, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    defs = make_defs(quiet_sim, data_dir, start_date=START, now=QUIET_NOW.isoformat())
    ids = ["100001", "100004", "100006"]
    with WebhookReceiver() as hook, embedded_instance() as instance:
        monkeypatch.setenv("VIPPS_ALERT_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("VIPPS_UI_URL", "http://dagster.example")
        assert defs.resolve_job_def("refresh_ledgers").execute_in_process(instance=instance).success
        assert sync(defs, instance, ledgers=ids).success
        first = tick(instance, data_dir)
        assert hook.posts == [], hook.texts
        settings = PipelineResource(
            data_dir=str(data_dir), start_date=START, now=QUIET_NOW.isoformat()
        ).settings()
        status = {r.ledger_id: r.status for r in freshness_rows(settings, ids, QUIET_NOW.date())}
        assert status["100004"] == "open" and status["100006"] == "open", status  # really quiet

        tamper(data_dir)
        # a broken day is a successful run with failing checks: no run failure to see
        assert sync(defs, instance, ledgers=["100001"], fetch=False).success
        tick(instance, data_dir)
        assert len(hook.posts) == 1
        text = hook.texts[0]
        assert "ledger 100001 (ACME Fitness) · ledger date 2026-10-10" in text
        assert "partition=2026-10-10%7C100001" in text

        assert sync(defs, instance, ledgers=ids).success  # the next hourly sync: same break
        assert tick(instance, data_dir).startswith("alerts: nothing new")
        assert len(hook.posts) == 1
        told_problems = hook.texts[0].count("PROBLEM:")

        report_path(data_dir, "funds", "100001", BROKEN_DAY).unlink()  # fetched again, intact
        assert sync(defs, instance, ledgers=["100001"]).success
        tick(instance, data_dir)
        resolved = [t for t in hook.texts if "RESOLVED" in t]
        assert len(resolved) == 1 and "2026-10-10" in resolved[0]
        assert tick(instance, data_dir).startswith("alerts: nothing new")
        assert sum(t.count("PROBLEM:") for t in hook.texts) == told_problems

        # no Dagster record holds the webhook's secret path
        for run in instance.get_runs():
            assert TOKEN not in repr(run.run_config) + repr(run.tags)
            assert all(TOKEN not in repr(e) for e in instance.all_logs(run.run_id))
        assert TOKEN not in first
