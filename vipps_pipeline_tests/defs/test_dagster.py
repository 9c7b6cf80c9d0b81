"""The Dagster wiring, through Dagster's own test helpers, against the simulator.

The invariant every test here checks one way or another: Dagster marks a ledger-day
partition materialized if and only if its file is on disk, whatever started the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow.parquet as pq
import pytest

from vipps_pipeline.defs.ledger_days.assets import ledger_day_assets
from vipps_pipeline.defs.ledger_days.schedules import daily_ledger_schedule
from vipps_pipeline.defs.ledgers.sensors import ledger_refresh_sensor
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.defs.sync.sensors import vipps_sync_sensor
from vipps_pipeline.settings.pipeline import AUTO_SYNC_RUNS
from vipps_pipeline.store.paths import DAY_KINDS, report_path
from vipps_pipeline.store.processes import usable_cores
from vipps_pipeline.store.schemas import GDPR_COLUMNS
from vipps_pipeline_tests.support.clock import CLOSED_DAY, LEDGER_IDS, NOW, days
from vipps_pipeline_tests.support.dagster import (
    ASSETS,
    CHECKS,
    assert_status_equals_files,
    check_status,
    freshness,
    key,
    make_defs,
    run_range,
    stored,
    sync,
    table_text,
)
from vipps_pipeline_tests.support.instances import embedded_instance
from vipps_pipeline_tests.support.lake import assert_tables_equal_landing

OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with embedded_instance() as inst:
        inst.add_dynamic_partitions("ledgers", LEDGER_IDS)
        yield inst


def materialize_one(sim, instance, data_dir, partition, selection=("funds_report",), **pipeline):
    return dg.materialize(
        [ledger_day_assets],
        selection=list(selection),
        partition_key=partition,
        instance=instance,
        resources=make_defs(sim, data_dir, **pipeline).resources,
        raise_on_error=False,
    )


# --- one partition ---------------------------------------------------------------------------
def test_one_partition_writes_its_file_and_rich_metadata(sim, instance, tmp_path):
    result = materialize_one(sim, instance, tmp_path, key(CLOSED_DAY, "100001"))
    assert result.success
    path = report_path(tmp_path, "funds", "100001", CLOSED_DAY)
    table = pq.read_table(path)
    assert table.num_rows == len(sim.world.day("100001", "funds", CLOSED_DAY))
    [mat] = result.asset_materializations_for_node("ledger_days")
    assert mat.partition == key(CLOSED_DAY, "100001")
    md = mat.metadata
    assert md["rows"].value == table.num_rows
    assert md["counts_by_entry_type"].value["capture"] > 0
    assert md["closing_balance"].value == 0
    assert md["sum_amount"].value == -md["opening_balance"].value
    assert md["path"].value == str(path.resolve())
    preview = table_text(md["preview"].value)
    assert "| seq | time | entry_type |" in preview and "capture" in preview
    assert not any(col in preview for col in GDPR_COLUMNS)
    assert_status_equals_files(instance, tmp_path)


def test_rematerializing_leaves_identical_data(sim, instance, tmp_path):
    partition = key(CLOSED_DAY, "100002")
    both = ("funds_report", "fees_report")
    materialize_one(sim, instance, tmp_path, partition, both)
    first = {
        t: pq.read_table(report_path(tmp_path, t, "100002", CLOSED_DAY)) for t in ("funds", "fees")
    }
    materialize_one(sim, instance, tmp_path, partition, both)
    for topic, table in first.items():
        assert pq.read_table(report_path(tmp_path, topic, "100002", CLOSED_DAY)).equals(table)
    assert len([p for p in tmp_path.rglob("*.parquet") if "tables" not in p.parts]) == 2
    assert_tables_equal_landing(tmp_path)  # the day's rows replaced in the table, not doubled


# --- not ready is not a failure ----------------------------------------------------------------
def test_a_day_not_ready_succeeds_stores_nothing_and_says_why(sim, instance, tmp_path):
    partition = key(CLOSED_DAY, "100004")  # monthly settlement: open until December
    result = materialize_one(sim, instance, tmp_path, partition, ("funds_report", "fees_report"))
    assert result.success, "not ready is not a failure"
    assert not report_path(tmp_path, "funds", "100004", CLOSED_DAY).exists()
    assert not instance.get_materialized_partitions(dg.AssetKey("funds_report"))
    observed = [
        e.event_specific_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert {o.partition for o in observed} == {partition}
    assert observed[0].metadata["not_ready_reason"].value == "tryLater: true"
    assert sim.counters["report_pages"] == 2, "one request per topic"
    later = datetime(2026, 12, 2, 12, tzinfo=UTC)
    sim.clock = lambda: later
    assert materialize_one(
        sim, instance, tmp_path, partition, ("funds_report",), now=later.isoformat()
    ).success
    assert report_path(tmp_path, "funds", "100004", CLOSED_DAY).exists()
    assert_status_equals_files(instance, tmp_path)


def test_one_open_day_does_not_block_the_range(sim, instance, tmp_path):
    """The issue's case: a monthly ledger over Oct 20 to Nov 2, where November is open."""
    defs = make_defs(sim, tmp_path)
    result = run_range(defs, instance, "100004", date(2026, 10, 20), date(2026, 11, 2))
    assert result.success
    october = {key(d, "100004") for d in days(date(2026, 10, 20), date(2026, 10, 31))}
    counts = assert_status_equals_files(instance, tmp_path)
    assert counts == {asset: 12 for asset in ASSETS}
    assert set(instance.get_materialized_partitions(dg.AssetKey("reconciliation"))) == october
    assert sim.counters["report_pages"] == 12 * 2 + 2, "Nov 2 is never asked: Nov 1 is open"
    # running it again (statements over the range) does not fail either
    assert run_range(defs, instance, "100004", date(2026, 10, 20), date(2026, 11, 2)).success


# --- every way a run names its partitions -------------------------------------------------------
def test_a_jobs_page_backfill_run_stores_its_whole_range(sim, instance, tmp_path):
    """The Jobs page gives each ranged run the range tags AND per-dimension tags naming the
    backfill's first partition; Dagster's own partition_keys then see one ledger-day."""
    defs = make_defs(sim, tmp_path)
    first, last = date(2026, 10, 20), date(2026, 10, 31)
    tags = {"dagster/partition/date": first.isoformat(), "dagster/partition/ledger": "100001"}
    assert run_range(defs, instance, "100002", first, last, tags=tags).success
    counts = assert_status_equals_files(instance, tmp_path)
    assert counts == {asset: 12 for asset in ASSETS}
    assert stored(tmp_path, "reports/funds") == {key(d, "100002") for d in days(first, last)}


def test_a_rectangle_of_dates_and_ledgers_is_one_run(sim, instance, tmp_path):
    """Lineage "Materialize all" splits a backfill by date: each run covers every ledger."""
    defs = make_defs(sim, tmp_path)
    result = defs.resolve_job_def("daily_ledger_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": key(date(2026, 11, 10), "100001"),
            "dagster/asset_partition_range_end": key(date(2026, 11, 11), "100003"),
        },
    )
    assert result.success
    wanted = {
        key(d, lid) for d in days(date(2026, 11, 10), date(2026, 11, 11)) for lid in LEDGER_IDS[:3]
    }
    assert stored(tmp_path, "reconciliation") == wanted
    assert_status_equals_files(instance, tmp_path)


def test_a_report_only_run_leaves_statements_to_the_sync(sim, instance, tmp_path):
    defs = make_defs(sim, tmp_path)
    first, last = date(2026, 11, 3), date(2026, 11, 6)
    selection = [dg.AssetKey("funds_report"), dg.AssetKey("fees_report")]
    assert run_range(defs, instance, "100001", first, last, selection=selection).success
    assert stored(tmp_path, "statements") == set()
    # the sync (here without API calls) derives what the reports allow
    result = defs.resolve_job_def("vipps_sync").execute_in_process(
        instance=instance,
        run_config={"ops": {"sync_ledgers": {"config": {"ledgers": ["100001"], "fetch": False}}}},
    )
    assert result.success
    assert stored(tmp_path, "reconciliation") == {key(d, "100001") for d in days(first, last)}
    assert_status_equals_files(instance, tmp_path)


# --- downstream follows the data ---------------------------------------------------------------
def test_a_late_day_gets_its_findings_and_its_neighbours_are_recomputed(sim, instance, tmp_path):
    late = date(2026, 11, 12)
    sim.faults.open_dates.add(("100001", late))
    defs = make_defs(sim, tmp_path)
    first, last = date(2026, 11, 10), date(2026, 11, 14)
    for d in days(first, last):  # one run per date, as a backfill split by date makes them
        assert run_range(defs, instance, "100001", d, d).success
    findings = pq.read_table(tmp_path / "reconciliation/100001/2026/2026-11-13.parquet")
    chain = [f for f in findings.to_pylist() if f["check"] == "chain_across_days"]
    assert {f["status"] for f in chain} == {"unknown"}
    assert not (tmp_path / "reconciliation/100001/2026/2026-11-12.parquet").exists()
    sim.faults.open_dates.clear()
    # the late day alone, as a user would re-run it: its neighbours follow in the same run
    result = run_range(defs, instance, "100001", late, late)
    assert result.success
    findings = pq.read_table(tmp_path / "reconciliation/100001/2026/2026-11-13.parquet")
    assert {f["status"] for f in findings.to_pylist() if f["check"] == "chain_across_days"} == {
        "pass"
    }
    recomputed = {
        e.event_specific_data.materialization.partition
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key.path == ["reconciliation"]
    }
    assert {key(late, "100001"), key(late + timedelta(days=1), "100001")} <= recomputed
    assert_status_equals_files(instance, tmp_path)
    passed = check_status(instance, "balance_continuity")["SUCCEEDED"]
    assert key(late + timedelta(days=1), "100001") in passed


def test_the_checks_tab_shows_passed_and_failed_per_partition(sim, instance, tmp_path):
    broken = date(2026, 11, 12)
    sim.faults.payout_not_last.add(("100001", broken))
    first, last = date(2026, 11, 10), date(2026, 11, 14)
    assert run_range(make_defs(sim, tmp_path), instance, "100001", first, last).success
    status = check_status(instance, "payouts_and_invoices")
    assert status["FAILED"] == {key(broken, "100001")}
    assert status["SUCCEEDED"] == {key(d, "100001") for d in days(first, last)} - {
        key(broken, "100001")
    }
    for check in CHECKS:  # every reconciled partition has a current result, none stale
        shown = check_status(instance, check)
        assert shown["SUCCEEDED"] | shown["FAILED"] == stored(tmp_path, "reconciliation")
    ck = dg.AssetCheckKey(dg.AssetKey("reconciliation"), "payouts_and_invoices")
    [record] = [
        r
        for r in instance.event_log_storage.get_asset_check_execution_history(ck, limit=50)
        if r.partition == key(broken, "100001")
    ]
    evaluation = record.event.dagster_event.event_specific_data
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "is not the last entry" in table_text(evaluation.metadata["findings"].value)
    shown = table_text(evaluation.metadata["findings"].value)
    assert "| check | topic | status |" in shown
    # each number says what it is and in which unit, exact with the currency's digits
    assert re.search(r"at most the balance before the payout: -?\d+\.\d\d NOK", shown), shown
    assert re.search(r"paid out: -?\d+\.\d\d NOK", shown), shown


def test_pending_and_unknown_do_not_show_as_failed(sim, instance, tmp_path):
    first = date(2026, 10, 1)  # the first stored date: the chain across days is unknown
    assert run_range(make_defs(sim, tmp_path), instance, "100002", first, first).success
    shown = check_status(instance, "balance_continuity")
    assert shown["SUCCEEDED"] == {key(first, "100002")} and not shown["FAILED"]
    ck = dg.AssetCheckKey(dg.AssetKey("reconciliation"), "balance_continuity")
    [record] = instance.event_log_storage.get_asset_check_execution_history(ck, limit=5)
    evaluation = record.event.dagster_event.event_specific_data
    assert evaluation.passed and "unknown" in evaluation.description


def test_an_unknown_entry_type_is_a_balanced_journal_and_a_warning_naming_what_to_map(
    sim, instance, tmp_path
):
    sim.world.faults.unknown_entry_type = True
    first, odd = date(2026, 10, 4), date(2026, 10, 5)  # the 5th brings the unknown type
    assert run_range(make_defs(sim, tmp_path), instance, "100001", first, odd).success
    ck = dg.AssetCheckKey(dg.AssetKey("journal"), "journal_balances")
    records = instance.event_log_storage.get_asset_check_execution_history(ck, limit=10)
    by_day = {r.partition: r.event.dagster_event.event_specific_data for r in records}
    plain, warned = by_day[key(first, "100001")], by_day[key(odd, "100001")]
    assert plain.passed and "debits equal credits" in plain.description
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.description == (
        "balanced, but entry type(s) without an account were booked to suspense account 2999 "
        "(map them in vipps_pipeline/books/journal_accounts.toml): "
        "funds interest-adjustment 3.21 NOK"
    )
    assert warned.metadata["balanced"].value is True
    assert "interest-adjustment | 3.21 NOK" in table_text(warned.metadata["to_map"].value)
    [event] = [
        r.event_log_entry
        for r in instance.fetch_materializations(
            dg.AssetRecordsFilter(dg.AssetKey("journal"), asset_partitions=[key(odd, "100001")]),
            limit=1,
        ).records
    ]
    shown = event.asset_materialization.metadata
    assert shown["balanced"].value is True
    assert shown["unmapped_entry_types"].value == "interest-adjustment"


# --- sync, freshness, the sensor ---------------------------------------------------------------


def test_sync_walks_from_the_frontier_and_polls_an_open_ledger_once_per_topic(
    sim, instance, tmp_path
):
    defs = make_defs(sim, tmp_path, start_date="2026-11-01")
    assert sync(defs, instance).success
    assert_status_equals_files(instance, tmp_path)
    per_ledger = {lid: 0 for lid in LEDGER_IDS}
    for partition in stored(tmp_path, "reconciliation"):
        per_ledger[partition.split("|")[1]] += 1
    # daily ledgers are final through Nov 23; the weekly one through Sunday Nov 22; the
    # monthly one not at all in November
    assert per_ledger == {**{lid: 23 for lid in LEDGER_IDS}, "100004": 0, "100007": 22}
    before = sim.counters["report_pages"]
    assert sync(defs, instance).success
    asked = [r for r in list(sim.requests_log)[-40:] if "/report/" in r[1]]
    # 100004 (Nov 1) and 100007 (Nov 23) are open: one request per topic each
    assert sim.counters["report_pages"] - before == 4, asked
    evaluation = freshness(instance)
    assert evaluation.passed
    assert "open since 2026-11-01" in table_text(evaluation.metadata["ledgers"].value)


def test_a_foreign_ledger_is_an_error_naming_it_and_a_long_open_ledger_a_warning(
    sim, instance, tmp_path
):
    instance.add_dynamic_partitions("ledgers", ["999999"])
    # the first sighting of the 404, eight days ago: no alarm yet (it may be transient)
    week_ago = (NOW - timedelta(days=8)).isoformat()
    defs = make_defs(sim, tmp_path, start_date="2026-11-01", now=week_ago)
    assert sync(defs, instance, ledgers=["999999", "100004"]).success
    assert freshness(instance).passed
    defs = make_defs(sim, tmp_path, start_date="2026-11-01")
    assert sync(defs, instance, ledgers=["999999", "100004"]).success  # still 404 today
    evaluation = freshness(instance)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    table = table_text(evaluation.metadata["ledgers"].value)
    assert "999999" in table and "No such ledgerId" in table
    assert "may not belong to these API keys" in table
    # a ledger open for longer than VIPPS_STALE_DAYS: a warning, not an error
    defs = make_defs(sim, tmp_path, start_date="2026-11-01", stale_days="10")
    assert sync(defs, instance, ledgers=["100004"]).success
    ledger_ids = [r for r in instance.get_dynamic_partitions("ledgers") if r != "999999"]
    instance.delete_dynamic_partition("ledgers", "999999")
    assert sync(defs, instance, ledgers=ledger_ids[:1]).success
    evaluation = freshness(instance)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "stale" in table_text(evaluation.metadata["ledgers"].value)


def test_the_sensor_polls_hourly_at_its_minute_and_derives_in_between(sim, instance, tmp_path):
    defs = make_defs(sim, tmp_path, start_date="2026-11-20")
    resources = defs.resources

    def tick(at: datetime, cursor: str | None = None, **pipeline_settings: str):
        pipeline = PipelineResource(
            **{**resources["pipeline"].model_dump(), "now": at.isoformat(), **pipeline_settings}
        )
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"pipeline": pipeline}
        ) as context:
            result = vipps_sync_sensor(context)
        if isinstance(result, list) and len(result) == 1:
            result = result[0]
        return result, context.cursor

    early, cursor = tick(datetime(2026, 11, 24, 10, 5, tzinfo=OSLO))
    assert isinstance(early, dg.SkipReason), "never before the poll minute"
    # VIPPS_SYNC_RUNS splits the ledgers over runs, each ledger in exactly one
    split, _ = tick(datetime(2026, 11, 24, 10, 17, tzinfo=OSLO), cursor, sync_runs="3")
    groups = [r.run_config["ops"]["sync_ledgers"]["config"]["ledgers"] for r in split]
    assert [len(g) for g in groups] == [3, 2, 2]
    assert sorted(lid for g in groups for lid in g) == LEDGER_IDS
    assert len({r.run_key for r in split}) == 3
    # the run list tells the runs apart: which share, which ledgers
    assert [(r.tags["vipps/share"], r.tags["vipps/ledgers"]) for r in split] == [
        (f"{i + 1} of 3", ", ".join(g)) for i, g in enumerate(groups)
    ]
    # by default, one run per core (at most 4)
    default, _ = tick(datetime(2026, 11, 24, 10, 17, tzinfo=OSLO), cursor)
    default = default if isinstance(default, list) else [default]
    assert len(default) == min(AUTO_SYNC_RUNS, usable_cores())
    request, cursor = tick(datetime(2026, 11, 24, 10, 17, tzinfo=OSLO), cursor, sync_runs="1")
    assert isinstance(request, dg.RunRequest)
    config = request.run_config["ops"]["sync_ledgers"]["config"]
    assert config["fetch"] and sorted(config["ledgers"]) == LEDGER_IDS
    again, cursor = tick(datetime(2026, 11, 24, 10, 40, tzinfo=OSLO), cursor)
    assert isinstance(again, dg.SkipReason), "once an hour"
    # reports stored without statements (a UI backfill of the reports): derived between polls
    run_range(
        defs,
        instance,
        "100002",
        date(2026, 11, 20),
        date(2026, 11, 21),
        selection=[dg.AssetKey("funds_report"), dg.AssetKey("fees_report")],
    )
    derive, cursor = tick(datetime(2026, 11, 24, 10, 50, tzinfo=OSLO), cursor)
    assert isinstance(derive, dg.RunRequest)
    assert derive.run_config["ops"]["sync_ledgers"]["config"] == {
        "ledgers": ["100002"],
        "fetch": False,
    }
    nxt, _ = tick(datetime(2026, 11, 24, 11, 17, tzinfo=OSLO), cursor, sync_runs="1")
    assert isinstance(nxt, dg.RunRequest) and nxt.run_key != request.run_key


def test_schedule_requests_yesterday_for_every_ledger(instance):
    from vipps_pipeline.definitions import defs

    schedule = defs.resolve_schedule_def(daily_ledger_schedule.name)
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 11, 24, 6, 15, tzinfo=OSLO)
    )
    requests = list(schedule.evaluate_tick(context).run_requests)
    assert sorted(r.partition_key for r in requests) == [
        key(date(2026, 11, 23), lid) for lid in LEDGER_IDS
    ]
    assert schedule.cron_schedule == "15 6 * * *"
    assert schedule.execution_timezone == "Europe/Oslo"


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
        body["items"].append({**body["items"][0], "ledgerId": "../x"})
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


def test_definitions_load_with_every_asset_described_grouped_and_kinded():
    from vipps_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    for asset_key in graph.get_all_asset_keys():
        node = graph.get(asset_key)
        assert node.description and node.group_name and node.kinds, asset_key
    pools = {frozenset(graph.get(dg.AssetKey(a)).pools) for a in ("funds_report", "ledgers")}
    assert pools == {frozenset({"vipps_api"})}
    policies = {graph.get(dg.AssetKey(a)).backfill_policy for a in ASSETS}
    assert policies == {dg.BackfillPolicy.single_run()}
    assert set(DAY_KINDS) == set(ASSETS.values())
