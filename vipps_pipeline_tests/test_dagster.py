"""The Dagster wiring, through Dagster's own test helpers, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow.parquet as pq
import pytest

from vipps_pipeline.definitions import build_defs
from vipps_pipeline.defs.assets import fees_report, funds_report
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.defs.schedules import daily_ledger_schedule
from vipps_pipeline.defs.sensors import ledger_refresh_sensor
from vipps_pipeline.simulator import Simulator
from vipps_pipeline.storage import GDPR_COLUMNS, report_path
from vipps_pipeline_tests.conftest import CLOSED_DAY, LEDGER_IDS, days

OSLO = ZoneInfo("Europe/Oslo")


def api_resource(sim: Simulator, **overrides: str) -> ReportApiResource:
    fields = {k[6:].lower(): v for k, v in sim.env("merchant").items()}
    return ReportApiResource(**{**fields, **overrides})


def make_defs(
    sim: Simulator, data_dir: Path, api: dict[str, str] | None = None, **pipeline: str
) -> dg.Definitions:
    settings = {
        "data_dir": str(data_dir),
        "not_ready_retries": "0",
        "start_date": "2026-10-01",
        **pipeline,
    }
    return build_defs(
        {"api": api_resource(sim, **(api or {})), "pipeline": PipelineResource(**settings)}
    )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("ledgers", LEDGER_IDS)
        yield inst


def key(d: date, ledger_id: str) -> str:
    return f"{d.isoformat()}|{ledger_id}"


def materialize_one(sim, instance, tmp_path, partition, assets=(funds_report,), **pipeline):
    return dg.materialize(
        list(assets),
        partition_key=partition,
        instance=instance,
        resources=make_defs(sim, tmp_path, **pipeline).resources,
        raise_on_error=False,
    )


def run_range(defs, instance, ledger_id, first: date, last: date):
    return defs.resolve_job_def("daily_ledger_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": key(first, ledger_id),
            "dagster/asset_partition_range_end": key(last, ledger_id),
        },
    )


def test_one_partition_writes_its_file_and_rich_metadata(sim, instance, tmp_path):
    result = materialize_one(sim, instance, tmp_path, key(CLOSED_DAY, "100001"))
    assert result.success
    path = report_path(tmp_path, "funds", "100001", CLOSED_DAY)
    table = pq.read_table(path)
    assert table.num_rows == len(sim.world.day("100001", "funds", CLOSED_DAY))
    [mat] = result.asset_materializations_for_node("funds_report")
    assert mat.partition == key(CLOSED_DAY, "100001")
    md = mat.metadata
    assert md["rows"].value == table.num_rows
    assert md["counts_by_entry_type"].value["capture"] > 0
    assert (
        md["closing_balance"].value == 0 and md["sum_amount"].value == -md["opening_balance"].value
    )
    assert md["path"].value == str(path)
    preview = md["preview"].value
    assert "| seq | time | entry_type |" in preview and "capture" in preview
    assert not any(col in preview for col in GDPR_COLUMNS)


def test_rematerializing_leaves_identical_data(sim, instance, tmp_path):
    partition = key(CLOSED_DAY, "100002")
    materialize_one(sim, instance, tmp_path, partition, (funds_report, fees_report))
    first = {
        t: pq.read_table(report_path(tmp_path, t, "100002", CLOSED_DAY)) for t in ("funds", "fees")
    }
    materialize_one(sim, instance, tmp_path, partition, (funds_report, fees_report))
    for topic, table in first.items():
        assert pq.read_table(report_path(tmp_path, topic, "100002", CLOSED_DAY)).equals(table)
    assert len(list(tmp_path.rglob("*.parquet"))) == 2


def test_not_ready_stores_nothing_fails_clearly_and_succeeds_later(sim, instance, tmp_path):
    partition = key(CLOSED_DAY, "100004")  # monthly settlement: open until December
    result = materialize_one(sim, instance, tmp_path, partition)
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert "not ready" in message and "100004" in message and "2026-11-20" in message
    assert "tryLater" in message
    assert not report_path(tmp_path, "funds", "100004", CLOSED_DAY).exists()
    assert not instance.get_materialized_partitions(dg.AssetKey("funds_report"))
    sim.clock = lambda: datetime(2026, 12, 2, 12, tzinfo=UTC)  # the month has closed
    assert materialize_one(sim, instance, tmp_path, partition).success
    assert report_path(tmp_path, "funds", "100004", CLOSED_DAY).exists()


def test_not_ready_retries_inside_the_run(sim, instance, tmp_path, faults):
    faults.not_ready_polls = 1
    result = materialize_one(
        sim,
        instance,
        tmp_path,
        key(CLOSED_DAY, "100001"),
        not_ready_retries="2",
        not_ready_delay_seconds="0",
    )
    assert result.success
    assert sim.counters["404_not_ready"] == 1


def test_runs_from_automation_do_not_retry_inside_the_run(sim, instance, tmp_path, faults):
    faults.not_ready_polls = 1
    result = dg.materialize(
        [funds_report],
        partition_key=key(CLOSED_DAY, "100001"),
        instance=instance,
        resources=make_defs(
            sim, tmp_path, not_ready_retries="2", not_ready_delay_seconds="0"
        ).resources,
        tags={"dagster/from_automation_condition": "true"},
        raise_on_error=False,
    )
    assert not result.success and sim.counters["404_not_ready"] == 1
    [failure] = result.get_step_failure_events()
    [entry] = failure.event_specific_data.user_failure_data.metadata["not_ready"].value
    assert entry == {
        "ledger": "100001",
        "topic": "funds",
        "date": "2026-11-20",
        "api_said": "HTTP 404",
        "detail": "Not Found",
    }


def test_persistent_404_gets_its_own_message(sim, instance, tmp_path):
    instance.add_dynamic_partitions("ledgers", ["999999"])
    result = materialize_one(
        sim, instance, tmp_path, key(date(2026, 10, 1), "999999"), persistent_404_days="7"
    )
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "still 404" in message and "may not belong to these API keys" in message


def test_ranged_backfill_run_stores_every_day_and_reconciles(sim, instance, tmp_path):
    defs = make_defs(sim, tmp_path)
    first, last = date(2026, 11, 1), date(2026, 11, 20)
    result = run_range(defs, instance, "100002", first, last)
    assert result.success
    wanted = {key(d, "100002") for d in days(first, last)}
    for asset in ("funds_report", "fees_report", "daily_statements", "reconciliation"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == wanted, asset
    runs = instance.get_runs()
    assert len(runs) == 1, "a 20-day range is one run"
    for d in days(first, last):
        stored = pq.read_table(report_path(tmp_path, "fees", "100002", d)).column("psp_reference")
        truth = [e["pspReference"] for e in sim.world.day("100002", "fees", d).entries]
        assert stored.to_pylist() == truth


def test_asset_checks_are_recorded_per_partition_with_severity(sim, instance, tmp_path, faults):
    broken = date(2026, 11, 12)
    faults.payout_not_last.add(("100001", broken))
    assert run_range(
        make_defs(sim, tmp_path), instance, "100001", date(2026, 11, 10), date(2026, 11, 14)
    ).success
    check = dg.AssetCheckKey(dg.AssetKey("reconciliation"), "payouts_and_invoices")
    records = instance.event_log_storage.get_asset_check_execution_history(check, limit=50)
    by_partition = {
        r.partition: r.event.dagster_event.event_specific_data
        for r in records
        if r.event and r.event.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert set(by_partition) == {
        key(d, "100001") for d in days(date(2026, 11, 10), date(2026, 11, 14))
    }
    bad = by_partition[key(broken, "100001")]
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.ERROR
    assert "is not the last entry" in str(bad.metadata["findings"].value)
    assert by_partition[key(date(2026, 11, 13), "100001")].passed
    first = dg.AssetCheckKey(dg.AssetKey("reconciliation"), "balance_continuity")
    warn = [
        r
        for r in instance.event_log_storage.get_asset_check_execution_history(first, limit=50)
        if r.partition == key(date(2026, 11, 10), "100001")
        and r.event
        and r.event.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert warn[0].event.dagster_event.event_specific_data.severity == dg.AssetCheckSeverity.WARN


def test_schedule_requests_yesterday_for_every_ledger(instance):
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 11, 24, 6, 15, tzinfo=OSLO)
    )
    requests = list(daily_ledger_schedule.evaluate_tick(context).run_requests)
    assert sorted(r.partition_key for r in requests) == [
        key(date(2026, 11, 23), lid) for lid in LEDGER_IDS
    ]
    assert daily_ledger_schedule.cron_schedule == "15 6 * * *"
    assert daily_ledger_schedule.execution_timezone == "Europe/Oslo"


def test_ledger_sensor_requests_a_refresh_that_registers_new_ledgers(sim, tmp_path):
    with dg.instance_for_test() as instance:
        request = ledger_refresh_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(request, dg.RunRequest)
        defs = make_defs(sim, tmp_path)
        assert defs.resolve_job_def("refresh_ledgers").execute_in_process(instance=instance).success
        assert sorted(instance.get_dynamic_partitions("ledgers")) == LEDGER_IDS
        table = pq.read_table(tmp_path / "ledgers.parquet").to_pylist()
        first = next(r for r in table if r["ledger_id"] == "100001")
        assert first["payout_account_masked"] == "*******7947"
        assert first["sales_units"] == ["ACME Fitness"]
        # a ledger that disappears from the list keeps its row and its partitions
        del sim.world.ledgers["100003"]
        assert defs.resolve_job_def("refresh_ledgers").execute_in_process(instance=instance).success
        table = {r["ledger_id"]: r for r in pq.read_table(tmp_path / "ledgers.parquet").to_pylist()}
        assert table["100003"]["listed"] is False and table["100001"]["listed"] is True
        assert "100003" in instance.get_dynamic_partitions("ledgers")


def test_bad_ledger_id_in_the_list_is_refused_and_nothing_is_stored(sim, tmp_path, monkeypatch):
    original = sim.ledgers

    def with_bad_id(query):
        body = original(query)
        body["ledgers"].append({**body["ledgers"][0], "ledgerId": "../x"})
        return body

    monkeypatch.setattr(sim, "ledgers", with_bad_id)
    with dg.instance_for_test() as instance:
        result = (
            make_defs(sim, tmp_path)
            .resolve_job_def("refresh_ledgers")
            .execute_in_process(instance=instance, raise_on_error=False)
        )
        assert not result.success
        message = result.get_step_failure_events()[0].event_specific_data.error.message
        assert "'../x' is not a valid ledger id" in message
        assert not (tmp_path / "ledgers.parquet").exists()
        assert instance.get_dynamic_partitions("ledgers") == []


def test_automation_requests_missing_recent_ledger_days_hourly_not_old_ones(
    sim, instance, tmp_path
):
    defs = make_defs(sim, tmp_path)
    materialize_one(sim, instance, tmp_path, key(date(2026, 11, 22), "100001"))
    t0 = datetime(2026, 11, 24, 10, 5, tzinfo=OSLO)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=t0)
    assert first.get_requested_partitions(dg.AssetKey("funds_report")) == set()
    second = dg.evaluate_automation_conditions(
        defs=defs,
        instance=instance,
        evaluation_time=t0 + timedelta(minutes=15),
        cursor=first.cursor,
    )
    requested = second.get_requested_partitions(dg.AssetKey("funds_report"))
    assert key(date(2026, 11, 23), "100004") in requested
    assert key(date(2026, 11, 18), "100002") in requested
    assert key(date(2026, 11, 22), "100001") not in requested, "already stored"
    assert key(date(2026, 10, 1), "100001") not in requested, "outside the lookback window"
    assert all(date.fromisoformat(k.split("|")[0]) >= date(2026, 11, 17) for k in requested)
    third = dg.evaluate_automation_conditions(
        defs=defs,
        instance=instance,
        evaluation_time=t0 + timedelta(minutes=30),
        cursor=second.cursor,
    )
    assert third.get_requested_partitions(dg.AssetKey("funds_report")) == set(), "once an hour"


def test_automation_cascades_statements_and_checks_after_reports_arrive(sim, instance, tmp_path):
    defs = make_defs(sim, tmp_path)
    first = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, evaluation_time=datetime(2026, 11, 24, 10, 5, tzinfo=OSLO)
    )
    for d in (date(2026, 11, 19), date(2026, 11, 20)):
        assert materialize_one(
            sim, instance, tmp_path, key(d, "100002"), (funds_report, fees_report)
        ).success
    second = dg.evaluate_automation_conditions(
        defs=defs,
        instance=instance,
        cursor=first.cursor,
        evaluation_time=datetime(2026, 11, 24, 10, 8, tzinfo=OSLO),
    )
    wanted = {key(date(2026, 11, 19), "100002"), key(date(2026, 11, 20), "100002")}
    assert second.get_requested_partitions(dg.AssetKey("daily_statements")) == wanted
    assert second.get_requested_partitions(dg.AssetKey("funds_report")) == set(), "not at :08"


def test_definitions_load_with_every_asset_described_grouped_and_kinded():
    from vipps_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    for asset_key in graph.get_all_asset_keys():
        node = graph.get(asset_key)
        assert node.description and node.group_name and node.kinds, asset_key
    pools = {
        frozenset(graph.get(dg.AssetKey(a)).pools)
        for a in ("funds_report", "fees_report", "ledgers")
    }
    assert pools == {frozenset({"vipps_api"})}
    policies = {
        graph.get(dg.AssetKey(a)).backfill_policy
        for a in ("funds_report", "fees_report", "daily_statements", "reconciliation")
    }
    assert policies == {dg.BackfillPolicy.single_run()}
