"""The report's schedule: every morning, after the daily job's time."""

from datetime import datetime, timedelta

import dagster as dg

from vipps_pipeline.defs.partitions import SETTINGS
from vipps_pipeline.defs.report.jobs import ledger_report_job

_AT = datetime(2000, 1, 1, SETTINGS.schedule_hour, SETTINGS.schedule_minute) + timedelta(minutes=30)
ledger_report_schedule = dg.ScheduleDefinition(
    name="ledger_report_schedule",
    job=ledger_report_job,
    cron_schedule=f"{_AT.minute} {_AT.hour} * * *",
    execution_timezone=SETTINGS.timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every morning, half an hour after VIPPS_SCHEDULE_TIME: redraw the report.",
)
