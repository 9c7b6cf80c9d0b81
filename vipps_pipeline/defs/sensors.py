"""Sensors: refresh the ledger list, and evaluate automation conditions."""

import time

import dagster as dg

from vipps_pipeline.defs.assets import ledgers
from vipps_pipeline.defs.partitions import SETTINGS

refresh_ledgers_job = dg.define_asset_job(
    "refresh_ledgers", selection=[ledgers], description="List the ledgers and register new ones."
)


@dg.sensor(
    job=refresh_ledgers_job,
    minimum_interval_seconds=SETTINGS.ledger_refresh_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes the ledger list (default daily) so new ledgers appear by themselves.",
)
def ledger_refresh_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest:
    bucket = int(time.time()) // SETTINGS.ledger_refresh_seconds
    return dg.RunRequest(run_key=f"ledgers-{bucket}")


automation_sensor = dg.AutomationConditionSensorDefinition(
    "vipps_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=120,
    description="Polls missing recent ledger-days hourly and cascades statements and checks.",
)
