"""The daily job and its schedule: yesterday for every ledger, downstream included."""

from __future__ import annotations

import dagster as dg

from vipps_pipeline.defs.assets import daily_statements, fees_report, funds_report, reconciliation
from vipps_pipeline.defs.partitions import SETTINGS, ledger_day_partitions

daily_ledger_job = dg.define_asset_job(
    "daily_ledger_job",
    selection=[funds_report, fees_report, daily_statements, reconciliation],
    partitions_def=ledger_day_partitions,
    description="Fetch, store, state and reconcile ledger-days: the pipeline's main job.",
)

daily_ledger_schedule = dg.build_schedule_from_partitioned_job(
    daily_ledger_job,
    name="daily_ledger_schedule",
    hour_of_day=SETTINGS.schedule_hour,
    minute_of_hour=SETTINGS.schedule_minute,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every day at VIPPS_SCHEDULE_TIME (VIPPS_TIMEZONE): yesterday, every ledger.",
)
