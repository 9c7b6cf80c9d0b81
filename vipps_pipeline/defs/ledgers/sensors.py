"""The ledger refresh sensor: new ledgers appear by themselves, without a deployment."""

from __future__ import annotations

import time

import dagster as dg

from vipps_pipeline.defs.ledgers.jobs import refresh_ledgers_job
from vipps_pipeline.defs.partitions import SETTINGS


def build_ledger_refresh_sensor(
    job: dg.UnresolvedAssetJobDefinition = refresh_ledgers_job,
) -> dg.SensorDefinition:
    """The sensor that launches one shard's refresh job."""

    @dg.sensor(
        job=job,
        minimum_interval_seconds=SETTINGS.ledger_refresh_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Refreshes the ledger list (default daily) so new ledgers appear by "
        "themselves.",
    )
    def ledger_refresh_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest:
        bucket = int(time.time()) // SETTINGS.ledger_refresh_seconds
        return dg.RunRequest(run_key=f"ledgers-{bucket}")

    return ledger_refresh_sensor


ledger_refresh_sensor = build_ledger_refresh_sensor()
