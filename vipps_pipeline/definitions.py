"""The code location: ``dagster dev`` in the repository root loads ``defs`` from here.

With ``VIPPS_SHARDS=N`` (N > 1) the ledgers are split over N code locations instead, loaded
from :mod:`vipps_pipeline.shards` (see docs/scale.md); ``defs`` here stays the unsharded one.
"""

from collections.abc import Mapping

import dagster as dg

from vipps_pipeline.defs.alerts.sensors import vipps_alerts_sensor
from vipps_pipeline.defs.bank.assets import payout_matches
from vipps_pipeline.defs.bank.checks import payouts_arrived
from vipps_pipeline.defs.bank.jobs import bank_match_job
from vipps_pipeline.defs.bank.sensors import bank_inbox_sensor
from vipps_pipeline.defs.feed.assets import FEED_SPECS
from vipps_pipeline.defs.feed.checks import feed_matches_report
from vipps_pipeline.defs.feed.jobs import vipps_feed_job
from vipps_pipeline.defs.feed.sensors import vipps_feed_sensor
from vipps_pipeline.defs.lake.jobs import tables_upkeep_job
from vipps_pipeline.defs.lake.schedules import tables_upkeep_schedule
from vipps_pipeline.defs.ledger_days.assets import build_ledger_day_assets, ledger_day_assets
from vipps_pipeline.defs.ledger_days.jobs import build_daily_ledger_job, daily_ledger_job
from vipps_pipeline.defs.ledger_days.schedules import (
    build_daily_ledger_schedule,
    daily_ledger_schedule,
)
from vipps_pipeline.defs.ledgers.assets import build_ledgers_asset, ledgers
from vipps_pipeline.defs.ledgers.jobs import build_refresh_ledgers_job, refresh_ledgers_job
from vipps_pipeline.defs.ledgers.sensors import build_ledger_refresh_sensor, ledger_refresh_sensor
from vipps_pipeline.defs.partitions import Shard
from vipps_pipeline.defs.report.assets import ledger_report
from vipps_pipeline.defs.report.jobs import ledger_report_job
from vipps_pipeline.defs.report.schedules import ledger_report_schedule
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.defs.sync.checks import build_freshness_check, ledger_freshness
from vipps_pipeline.defs.sync.jobs import build_sync_job, vipps_sync_job
from vipps_pipeline.defs.sync.sensors import build_sync_sensor, vipps_sync_sensor


def build_defs(resources: Mapping[str, object]) -> dg.Definitions:
    """Everything the project defines, with the given resources (tests pass their own).

    Runs execute in-process: each job is one step per asset or op that talks to the API in
    order, so a step process per run would only add a second interpreter start-up (seconds
    per run) and nothing in parallel."""
    return dg.Definitions(
        assets=[ledgers, ledger_day_assets, ledger_report, *FEED_SPECS, payout_matches],
        asset_checks=[ledger_freshness, feed_matches_report, payouts_arrived],
        jobs=[
            daily_ledger_job,
            refresh_ledgers_job,
            vipps_sync_job,
            vipps_feed_job,
            ledger_report_job,
            bank_match_job,
            tables_upkeep_job,
        ],
        schedules=[daily_ledger_schedule, ledger_report_schedule, tables_upkeep_schedule],
        sensors=[
            ledger_refresh_sensor,
            vipps_sync_sensor,
            vipps_feed_sensor,
            bank_inbox_sensor,
            vipps_alerts_sensor,
        ],
        resources=dict(resources),
        executor=dg.in_process_executor,
    )


def build_shard_defs(shard: Shard, resources: Mapping[str, object]) -> dg.Definitions:
    """One shard's code location: its ledger list, ledger-day assets, sync and sensors.

    Job, sensor and schedule names repeat in every location (one shard per location; the UI
    tells them apart by location); asset keys and partition names carry the shard, because
    those are global to the instance. The feed and the cross-ledger report are not sharded
    yet and stay in the unsharded location.
    """
    ledgers_asset = build_ledgers_asset(shard)
    days = build_ledger_day_assets(shard)
    daily_job = build_daily_ledger_job(days)
    sync_job = build_sync_job(shard)
    refresh_job = build_refresh_ledgers_job(ledgers_asset)
    return dg.Definitions(
        assets=[ledgers_asset, days],
        asset_checks=[build_freshness_check(shard)],
        jobs=[daily_job, refresh_job, sync_job],
        schedules=[build_daily_ledger_schedule(daily_job)],
        sensors=[build_ledger_refresh_sensor(refresh_job), build_sync_sensor(shard, sync_job)],
        resources=dict(resources),
        executor=dg.in_process_executor,
    )


def default_resources() -> dict[str, object]:
    return {"api": ReportApiResource.from_env(), "pipeline": PipelineResource.from_env()}


defs = build_defs(default_resources())
