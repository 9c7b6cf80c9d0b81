"""The feed in Dagster: the `vipps_feed` job records exactly what it stored, the comparison
shows as a check per closed ledger-day, the sensor polls as the vendor advises."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.asset_check_state import AssetCheckState, bulk_update_asset_check_state

from vipps_pipeline.defs.feed.assets import FEED_RECONCILIATION
from vipps_pipeline.defs.feed.sensors import vipps_feed_sensor
from vipps_pipeline.defs.partitions import ledger_day_partitions
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.feed import books as feed_books
from vipps_pipeline.feed import stream as feed
from vipps_pipeline.settings import TOPICS
from vipps_pipeline.simulator import Simulator
from vipps_pipeline_tests.support.clock import NOW, Clock
from vipps_pipeline_tests.support.dagster import make_defs, stored, sync, table_text
from vipps_pipeline_tests.support.feed import START, recent_world

LEDGERS = ["100001", "100004", "100007"]
FEED_KEYS = [dg.AssetKey("funds_feed"), dg.AssetKey("fees_feed"), dg.AssetKey("today_so_far")]
MISMATCH = date(2026, 11, 17)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fsim(clock: Clock) -> Iterator[Simulator]:
    world = recent_world()
    world.faults.feed_mismatch[("100001", MISMATCH)] = "amount"
    with Simulator(world, clock=clock) as s:
        s.faults.page_size = 100
        yield s


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("ledgers", LEDGERS)
        yield inst


def defs_at(sim: Simulator, data_dir: Path, at: datetime, **pipeline: str) -> dg.Definitions:
    return make_defs(sim, data_dir, start_date=START.isoformat(), now=at.isoformat(), **pipeline)


def read_feed(defs: dg.Definitions, instance: dg.DagsterInstance, **config):
    return defs.resolve_job_def("vipps_feed").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"read_feed": {"config": config}}},
    )


def materialized(result, key: dg.AssetKey) -> list[str]:
    return [
        e.event_specific_data.materialization.partition
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == key
    ]


def check_status(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    ck = dg.AssetCheckKey(FEED_RECONCILIATION, feed_books.CHECK)
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        state = bulk_update_asset_check_state(
            instance, [(ck, ledger_day_partitions)], {ck: AssetCheckState.empty()}
        )[ck]
    return {s.value: set(sub.subset_value.get_partition_keys()) for s, sub in state.subsets.items()}


def test_the_feed_job_stores_compares_and_records_exactly_that(fsim, instance, tmp_path, clock):
    defs = defs_at(fsim, tmp_path, NOW)
    assert sync(defs, instance, ledgers=LEDGERS).success  # the closed dates' reports
    first = read_feed(defs, instance, force=True)
    assert first.success, [e.message for e in first.get_step_failure_events()]
    for key in FEED_KEYS:
        assert sorted(materialized(first, key)) == LEDGERS, key
    # a comparison per closed date with both reports: status equals the files on disk
    checked = stored(tmp_path, "feed_checks")
    assert checked == stored(tmp_path, "reconciliation"), "every reconciled day is compared"
    assert set(instance.get_materialized_partitions(FEED_RECONCILIATION)) == checked
    status = check_status(instance)
    bad = f"{MISMATCH}|100001"
    assert status["FAILED"] == {bad} and status["SUCCEEDED"] == checked - {bad}
    [record] = [
        r
        for r in instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(FEED_RECONCILIATION, feed_books.CHECK), limit=200
        )
        if r.partition == bad
    ]
    evaluation = record.event.dagster_event.event_specific_data
    assert "differs: amount" in table_text(evaluation.metadata["findings"].value)
    # pruned: only the open dates' rows and the mismatching date's are provisional
    left = {p.stem for p in (tmp_path / "feed").rglob("*.parquet")}
    assert left == {"2026-11-23", "2026-11-24", str(MISMATCH)} | {
        str(d) for d in feed.Record.load(tmp_path, "100004", "funds").dates
    }
    today = next(
        e.event_specific_data.materialization
        for e in first.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == FEED_KEYS[2]
        and e.event_specific_data.materialization.partition == "100004"
    )
    assert len(today.metadata["open_dates"].value) == 24, "the monthly ledger's open month"
    assert "| topic | ledger_date | entries |" in table_text(today.metadata["today_so_far"].value)
    # nothing new: nothing recorded
    again = read_feed(defs, instance, force=True)
    assert again.success and not any(materialized(again, k) for k in FEED_KEYS)
    assert not materialized(again, FEED_RECONCILIATION)
    # two hours on: new entries on every ledger, recorded as such
    clock.at = NOW + timedelta(hours=2)
    later = read_feed(defs_at(fsim, tmp_path, clock.at), instance, force=True)
    assert later.success and sorted(materialized(later, FEED_KEYS[0])) == LEDGERS
    [mat] = [
        e.event_specific_data.materialization
        for e in later.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == FEED_KEYS[0]
        and e.event_specific_data.materialization.partition == "100001"
    ]
    assert mat.metadata["added"].value > 0 and list(mat.metadata["added_by_date"].value) == [
        "2026-11-24"
    ]


def test_files_a_killed_run_left_unrecorded_are_recorded_by_the_next(fsim, instance, tmp_path):
    defs = defs_at(fsim, tmp_path, NOW)
    assert sync(defs, instance, ledgers=["100007"]).success
    settings = defs.resources["pipeline"].settings()
    client = defs.resources["api"].get_client()
    # what a run does before it is killed: files written, nothing recorded
    feed_books.run_feed_pass(client, settings, "100007", settings.now())
    assert not instance.get_materialized_partitions(FEED_RECONCILIATION)
    result = read_feed(defs, instance, ledgers=["100007"], force=True)
    assert result.success
    assert set(instance.get_materialized_partitions(FEED_RECONCILIATION)) == stored(
        tmp_path, "feed_checks"
    )
    assert materialized(result, FEED_KEYS[0]) == ["100007"], "stored_total caught up"


def test_a_ledger_the_keys_cannot_read_fails_the_run_naming_it(fsim, instance, tmp_path):
    fsim.faults.forbidden_ledgers.add("100004")
    result = read_feed(defs_at(fsim, tmp_path, NOW), instance, force=True)
    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "ledger 100004, funds" in message and "403" in message
    assert sorted(materialized(result, FEED_KEYS[0])) == ["100001", "100007"]


def test_the_sensor_reads_due_ledgers_and_backs_off_while_nothing_is_new(fsim, instance, tmp_path):
    def tick(at: datetime):
        defs = defs_at(fsim, tmp_path, at)
        pipeline = PipelineResource(**defs.resources["pipeline"].model_dump())
        with dg.build_sensor_context(instance=instance, resources={"pipeline": pipeline}) as ctx:
            return vipps_feed_sensor(ctx), defs

    request, defs = tick(NOW)
    assert isinstance(request, dg.RunRequest)
    assert request.run_config["ops"]["read_feed"]["config"]["ledgers"] == LEDGERS
    assert read_feed(defs, instance, **request.run_config["ops"]["read_feed"]["config"]).success
    skip, _ = tick(NOW + timedelta(minutes=3))
    assert isinstance(skip, dg.SkipReason) and "next feed pass" in skip.skip_message
    # pass after pass at the moments the sensor picks: intervals grow while nothing is new
    fsim.clock.at = at = NOW
    intervals = []
    for _ in range(6):
        at += timedelta(seconds=30)
        request, defs = tick(at)
        while not isinstance(request, dg.RunRequest):
            at += timedelta(seconds=30)
            request, defs = tick(at)
        intervals.append(at)
        assert read_feed(defs, instance, **request.run_config["ops"]["read_feed"]["config"]).success
    gaps = [int((b - a).total_seconds()) for a, b in itertools.pairwise(intervals)]
    # the clock stands still in the simulator: nothing new, so 600, 1200, 1800, 1800, 1800
    # (less the minute of slack that lets ledgers due close together share a run)
    assert gaps == [540, 1140, 1740, 1740, 1740], gaps
    schedules = {lid: feed.Schedule.load(tmp_path, lid) for lid in LEDGERS}
    assert {s.interval for s in schedules.values()} == {1800}


def test_the_check_executed_from_the_ui_reports_the_stored_comparison(fsim, instance, tmp_path):
    defs = defs_at(fsim, tmp_path, NOW)
    assert sync(defs, instance, ledgers=["100001"]).success
    assert read_feed(defs, instance, ledgers=["100001"], force=True).success
    # the UI executes a check through the implicit asset job, as here
    ck = dg.AssetCheckKey(FEED_RECONCILIATION, feed_books.CHECK)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_check_selection={ck}, asset_selection=set()
    )
    for d, passed in ((MISMATCH, False), (date(2026, 11, 18), True)):
        result = job.execute_in_process(
            instance=instance, partition_key=f"{d}|100001", raise_on_error=False
        )
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.passed is passed, evaluation.description
        assert {t in evaluation.description for t in TOPICS} == {True}


def test_the_feed_command_catches_up_every_ledger_headless(fsim, tmp_path):
    from vipps_pipeline_tests.support.cli import cli

    del fsim.world.ledgers["100003"]  # fewer ledgers: a shorter run
    home = tmp_path / "home"
    env = {
        **fsim.env("merchant"),
        "VIPPS_DATA_DIR": str(tmp_path / "data"),
        "VIPPS_START_DATE": START.isoformat(),
        "VIPPS_NOW": NOW.isoformat(),
        "DAGSTER_HOME": str(home),
    }
    first = cli("feed", "--dagster-home", str(home), cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    rows = {tuple(line.split()[:2]): line.split() for line in first.stdout.splitlines()[2:]}
    assert len(rows) == 2 * 6 and all(int(r[2]) > 0 for r in rows.values()), first.stdout
    assert rows[("100001", "funds")][3:5] == ["2026-11-24", "11:51:47"]
    assert rows[("100004", "funds")][5] == "2026-11-01..2026-11-24", "the open month"
    second = cli("feed", "--no-ledger-list", "--dagster-home", str(home), cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stdout + second.stderr[-3000:]
    assert {line.split()[2] for line in second.stdout.splitlines()[2:]} == {"0"}
    print("\n" + first.stdout)


def test_no_secret_or_token_in_the_feeds_files_or_events(fsim, instance, tmp_path):
    fsim.faults.revoke_token_every = 3  # several tokens in play
    defs = defs_at(fsim, tmp_path, NOW)
    assert sync(defs, instance, ledgers=["100007"]).success
    result = read_feed(defs, instance, ledgers=["100007"], force=True)
    assert result.success and len(fsim.issued_tokens) >= 3
    creds = fsim.credentials["merchant"]
    secrets = [creds["client_secret"], creds["subscription_key"], *fsim.issued_tokens]
    texts = "\n".join(str(r) for r in instance.all_logs(result.run_id))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any("state" in p.parts for p in files) and any("today" in p.parts for p in files)
    hits = [s for s in secrets if s in texts]
    hits += [f"{s} in {p}" for p in files for s in secrets if s.encode() in p.read_bytes()]
    assert hits == []
