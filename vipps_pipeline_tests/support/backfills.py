"""Dagster's backfill daemon run in the test's process, as the UI's backfills reach it."""

from __future__ import annotations

import logging

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._time import get_current_timestamp

from vipps_pipeline_tests.support.dagster import ASSETS

LOG = logging.getLogger("backfills")


IN_PROCESS_RUNS = {
    "run_launcher": {
        "module": "dagster._core.launcher.sync_in_memory_run_launcher",
        "class": "SyncInMemoryRunLauncher",
    },
    "run_coordinator": {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    },
}
"""Runs launched by the daemon execute synchronously in the test's process."""


LOCATION = ModuleTarget(
    module_name="vipps_pipeline.definitions",
    attribute=None,
    working_directory=None,
    location_name="vipps_pipeline",
)
"""The code location loaded from its module, as a deployment loads it."""


def asset_backfill(
    instance: dg.DagsterInstance, context, backfill_id: str, names: list[str]
) -> PartitionBackfill:
    """What the asset graph's **Materialize** over partitions creates, run by the daemon."""
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=context.create_request_context().asset_graph,
        partition_names=names,
        asset_selection=[dg.AssetKey(a) for a in ASSETS],
        backfill_timestamp=get_current_timestamp(),
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=None,
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return run_daemon(instance, context, backfill_id)


def run_daemon(instance: dg.DagsterInstance, context, backfill_id: str) -> PartitionBackfill:
    for _ in range(20):
        errors = [e for e in execute_backfill_iteration(context, LOG) if e is not None]
        assert not errors, errors
        backfill = instance.get_backfill(backfill_id)
        if backfill.status != BulkActionStatus.REQUESTED:
            return backfill
    return instance.get_backfill(backfill_id)
