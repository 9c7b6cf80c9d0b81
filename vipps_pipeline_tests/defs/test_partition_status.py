"""What the UI shows on a ledger-day partition besides materialized or missing: its stale
("Unsynced") badge and, for a day that is not ready, the reason (issue 24)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import dagster as dg
import pytest
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

from vipps_pipeline_tests.support.dagster import (
    ASSETS,
    CHECKS,
    check_status,
    key,
    make_defs,
    run_range,
    sync,
)
from vipps_pipeline_tests.support.instances import embedded_instance


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with embedded_instance() as inst:
        yield inst


def stale_statuses(defs: dg.Definitions, instance, partitions: list[str]) -> set[StaleStatus]:
    """The status behind the UI's "Unsynced" badge, of every ledger-day asset's partitions."""
    graph = defs.resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance, graph, loading_context=view)
    return {
        resolver.get_status(dg.AssetKey(asset), partition)
        for asset in ASSETS
        for partition in partitions
    }


def test_refreshing_the_ledger_list_leaves_stored_days_in_sync(sim, instance, tmp_path):
    """The daily ledger-list refresh used to mark every stored partition "Unsynced"."""
    defs = make_defs(sim, tmp_path)
    refresh = defs.resolve_job_def("refresh_ledgers")
    assert refresh.execute_in_process(instance=instance).success
    first, last = date(2026, 11, 10), date(2026, 11, 12)
    assert run_range(defs, instance, "100001", first, last).success
    partitions = [key(date(2026, 11, d), "100001") for d in (10, 11, 12)]
    assert stale_statuses(defs, instance, partitions) == {StaleStatus.FRESH}
    assert refresh.execute_in_process(instance=instance).success
    assert stale_statuses(defs, instance, partitions) == {StaleStatus.FRESH}
    # nor the feed's assets: the ledger list is upstream of nothing
    assert defs.resolve_asset_graph().get(dg.AssetKey("ledgers")).child_keys == set()


def latest_observation(instance, asset: str, partition: str) -> dg.AssetObservation:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]),
        limit=1,
    ).records
    assert records, f"no observation of {asset} {partition}"
    return records[0].asset_observation


def test_a_day_not_ready_carries_its_reason_on_its_partition(sim, instance, tmp_path):
    """A not-ready day stays missing; its partition's latest observation says why and when
    the pipeline asks again, on the reports and on what is derived from them."""
    defs = make_defs(sim, tmp_path)
    instance.add_dynamic_partitions("ledgers", ["100004"])  # monthly: November still open
    assert sync(defs, instance, ledgers=["100004"]).success
    partition = key(date(2026, 11, 1), "100004")
    assert partition not in instance.get_materialized_partitions(dg.AssetKey("funds_report"))
    for asset in ASSETS:
        metadata = latest_observation(instance, asset, partition).metadata
        assert metadata["not_ready_reason"].value == "tryLater: true", asset
        assert metadata["http_status"].value == 200
        assert metadata["next_poll"].value == "2026-11-24 13:17 (Europe/Oslo)"


def test_a_check_is_skipped_exactly_on_the_days_not_ready(sim, instance, tmp_path):
    """The checks list labels a check "Skipped" while any partition's latest planned run ended
    without evaluating it; a ranged run evaluates every day it stores, so only the days not
    ready (nothing to check) are skipped, until a later run stores and checks them."""
    defs = make_defs(sim, tmp_path)
    instance.add_dynamic_partitions("ledgers", ["100004"])  # monthly: November still open
    assert run_range(defs, instance, "100004", date(2026, 10, 28), date(2026, 11, 2)).success
    october = {key(date(2026, 10, d), "100004") for d in (28, 29, 30, 31)}
    november = {key(date(2026, 11, d), "100004") for d in (1, 2)}
    for check in CHECKS:
        assert shown(instance, check) == {"SUCCEEDED": october, "SKIPPED": november}, check
    later = "2026-12-02T12:00:00+00:00"  # November closed: the hourly sync stores and checks it
    sim.clock = lambda: datetime.fromisoformat(later)
    assert sync(make_defs(sim, tmp_path, now=later), instance, ledgers=["100004"]).success
    for check in CHECKS:
        assert november <= shown(instance, check)["SUCCEEDED"], check
        assert "SKIPPED" not in shown(instance, check), check


def shown(instance, check: str) -> dict[str, set[str]]:
    return {status: keys for status, keys in check_status(instance, check).items() if keys}
