"""The daily job (every ledger-day dataset) and its optional schedule."""

from __future__ import annotations

import dagster as dg

from vipps_pipeline.defs.ledger_days.assets import ledger_day_assets
from vipps_pipeline.defs.partitions import SETTINGS


def build_daily_ledger_job(
    assets: dg.AssetsDefinition = ledger_day_assets,
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    """The job and schedule over one shard's ledger-day assets."""
    job = dg.define_asset_job(
        "daily_ledger_job",
        selection=dg.AssetSelection.assets(assets),
        description="Fetch, store, state and reconcile ledger-days: the pipeline's main job. "
        "Launch a range from this page or the asset graph; days not final yet stay missing and "
        "the hourly sync fetches them once they close.",
    )
    schedule = dg.build_schedule_from_partitioned_job(
        job,
        name="daily_ledger_schedule",
        hour_of_day=SETTINGS.schedule_hour,
        minute_of_hour=SETTINGS.schedule_minute,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Every day at VIPPS_SCHEDULE_TIME (VIPPS_TIMEZONE): yesterday, every "
        "ledger. Off by default: vipps_sync_sensor already fetches every new day.",
    )
    return job, schedule


daily_ledger_job, daily_ledger_schedule = build_daily_ledger_job()
