"""The tables' upkeep schedule: every night, while the ledgers are quiet."""

import dagster as dg

from vipps_pipeline.defs.lake.jobs import tables_upkeep_job
from vipps_pipeline.defs.partitions import SETTINGS

UPKEEP_CRON = "40 3 * * *"
"""03:40 in VIPPS_TIMEZONE: after midnight's dates close, away from the poll minute (:11-:59
is the sync's; a compaction that meets a commit is retried, so overlap costs only time)."""

tables_upkeep_schedule = dg.ScheduleDefinition(
    name="tables_upkeep_schedule",
    job=tables_upkeep_job,
    cron_schedule=UPKEEP_CRON,
    execution_timezone=SETTINGS.timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night: compact and vacuum the Delta tables, so their files stay few.",
)
