"""Backfills through Dagster's backfill daemon code path, as the UI launches them.

The Jobs page makes a job backfill of ``daily_ledger_job`` (runs carry range tags AND the
per-dimension tags of the backfill's first partition); the asset graph makes an asset backfill
(ranged runs split by date). Runs execute in this process (a synchronous run launcher), against
the simulator, with the project's own code location loaded the way ``dagster dev`` loads it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._time import get_current_timestamp

from vipps_pipeline.defs.partitions import ledger_day_partitions
from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.sync import completeness
from vipps_pipeline_tests.support.backfills import (
    IN_PROCESS_RUNS,
    LOCATION,
    asset_backfill,
    run_daemon,
)
from vipps_pipeline_tests.support.clock import LEDGER_IDS, NOW, days
from vipps_pipeline_tests.support.dagster import (
    ASSETS,
    assert_status_equals_files,
    check_status,
    key,
    stored,
)
from vipps_pipeline_tests.support.instances import embedded_instance

LOG = logging.getLogger("test_backfills")
DAILY = [lid for lid in LEDGER_IDS if lid not in ("100004", "100007")]
WINDOW = PipelineSettings.model_fields["fee_window_days"].default


@pytest.fixture
def daemon(sim, tmp_path, monkeypatch) -> Iterator[tuple[dg.DagsterInstance, object]]:
    """An instance with a synchronous run launcher and a workspace loading the code location
    from the environment, exactly as a deployment would."""
    env = {
        **sim.env("merchant"),
        "VIPPS_DATA_DIR": str(tmp_path / "data"),
        "VIPPS_NOW": NOW.isoformat(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with embedded_instance(IN_PROCESS_RUNS) as instance:
        instance.add_dynamic_partitions("ledgers", LEDGER_IDS)
        with create_test_daemon_workspace_context(LOCATION, instance=instance) as context:
            yield instance, context


def test_a_jobs_page_backfill_stores_and_marks_every_requested_ledger_day(daemon, tmp_path):
    instance, context = daemon
    repo = context.create_request_context().get_code_location("vipps_pipeline")
    remote = next(iter(repo.get_repositories().values()))
    [partition_set] = [p for p in remote.get_partition_sets() if p.job_name == "daily_ledger_job"]
    first, last = date(2026, 11, 10), date(2026, 11, 13)
    names = [key(d, lid) for d in days(first, last) for lid in LEDGER_IDS]
    instance.add_backfill(
        PartitionBackfill(
            backfill_id="jobs-page",
            partition_set_origin=partition_set.get_remote_origin(),
            status=BulkActionStatus.REQUESTED,
            partition_names=names,
            from_failure=False,
            reexecution_steps=None,
            tags={},
            backfill_timestamp=get_current_timestamp(),
        )
    )
    backfill = run_daemon(instance, context, "jobs-page")
    assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, backfill.status
    runs = instance.get_runs()
    assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    data = tmp_path / "data"
    counts = assert_status_equals_files(instance, data)
    wanted = {key(d, lid) for d in days(first, last) for lid in DAILY}
    assert wanted <= stored(data, "reconciliation")
    # the monthly ledger's November is open: nothing stored, nothing marked, nothing failed
    assert not any(p.endswith("|100004") for p in stored(data, "reports/funds"))
    # each run is tagged with what it covers (Dagster gave every run the first partition's
    # dimension tags) and says how many of its ledger-days were stored and not ready: 4 dates
    # x 7 ledgers make one run per date (the dimension with fewer keys)
    covered = {r.tags["dagster/partition/date"]: r.tags for r in runs}
    assert sorted(covered) == [d.isoformat() for d in days(first, last)], covered
    for day, tags in covered.items():
        assert tags["dagster/partition/ledger"] == "100001...100007", tags
        assert tags["dagster/asset_partition_range_start"] == f"{day}|100001", tags
        assert tags["vipps/not_ready"] == f"1 (100004 {day})", tags
        assert tags["vipps/stored"] == "6 of 7 ledger-days", tags
    print(f"\njobs-page backfill: {len(runs)} runs, materialized {counts}")


def test_an_asset_graph_backfill_stores_and_reconciles_every_day(daemon, tmp_path):
    instance, context = daemon
    graph = context.create_request_context().asset_graph
    # the day after the range is stored first: the backfill's runs recompute its findings
    after = [key(date(2026, 11, 5), lid) for lid in DAILY]
    asset_backfill(instance, context, "the-day-after", after)
    first, last = date(2026, 11, 2), date(2026, 11, 4)
    names = [key(d, lid) for d in days(first, last) for lid in LEDGER_IDS]
    done = asset_backfill(instance, context, "lineage", names)
    # the backfill counts only what it was asked for: its runs reconcile their own days and
    # leave the day after, whose findings the range made stale, to the sync sensor
    counted = done.get_asset_backfill_data(graph).materialized_subset
    recon = dg.AssetKey("reconciliation")
    assert set(counted.get_partitions_subset(recon).get_partition_keys()) <= set(names)
    for lid in DAILY:
        [latest] = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=recon, asset_partitions=[key(date(2026, 11, 5), lid)]),
            limit=1,
        ).records
        assert instance.get_run_by_id(latest.run_id).tags["dagster/backfill"] == "the-day-after"
        inventory = completeness.scan(tmp_path / "data", lid)
        assert date(2026, 11, 5) in completeness.stale_days(inventory, WINDOW)[1], lid
    runs = instance.get_runs()
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    data = tmp_path / "data"
    counts = assert_status_equals_files(instance, data)
    # An asset backfill knows only "materialized" or "failed": once its runs are done it files
    # the days that were not ready (the monthly ledger's November) as failed on the backfill
    # page. The runs succeeded, and the asset's own partition status leaves them missing.
    open_days = {key(d, "100004") for d in days(first, last)}
    assert done.status == BulkActionStatus.COMPLETED_FAILED, done.status
    failed = done.get_asset_backfill_data(graph).failed_and_downstream_subset
    for asset in ASSETS:
        assert set(failed.get_partitions_subset(dg.AssetKey(asset)).get_partition_keys()) == (
            open_days
        ), asset
        statuses = instance.get_status_by_partition(
            dg.AssetKey(asset), sorted(open_days), ledger_day_partitions
        )
        assert set(statuses.values()) == {None}, statuses
    wanted = {key(d, lid) for d in days(first, last) for lid in DAILY}
    assert wanted <= stored(data, "reconciliation"), "every stored day is reconciled"
    shown = check_status(instance, "balance_continuity")
    assert shown["SUCCEEDED"] | shown["FAILED"] == stored(data, "reconciliation")
    assert not shown["FAILED"]
    print(f"\nasset-graph backfill: {len(runs)} runs, materialized {counts}")
