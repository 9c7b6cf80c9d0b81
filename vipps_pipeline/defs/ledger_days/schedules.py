"""The daily job's optional schedule (off by default: the sync sensor fetches new days)."""

from __future__ import annotations

import dagster as dg

from vipps_pipeline.defs.ledger_days.jobs import daily_ledger_job
from vipps_pipeline.defs.partitions import SETTINGS


def build_daily_ledger_schedule(
    job: dg.UnresolvedAssetJobDefinition = daily_ledger_job,
) -> dg.ScheduleDefinition:
    """Yesterday's partitions of ``job``, every ledger, at VIPPS_SCHEDULE_TIME."""
    return dg.build_schedule_from_partitioned_job(
        job,
        name="daily_ledger_schedule",
        hour_of_day=SETTINGS.schedule_hour,
        minute_of_hour=SETTINGS.schedule_minute,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Every day at VIPPS_SCHEDULE_TIME (VIPPS_TIMEZONE): yesterday, every "
        "ledger. Off by default: vipps_sync_sensor already fetches every new day.",
    )


daily_ledger_schedule = build_daily_ledger_schedule()
