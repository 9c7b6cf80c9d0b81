"""The code location: ``dagster dev`` in the repository root loads ``defs`` from here."""

from collections.abc import Mapping

import dagster as dg

from vipps_pipeline.defs.assets import ledger_day_assets, ledgers
from vipps_pipeline.defs.feed import (
    FEED_SPECS,
    feed_matches_report,
    vipps_feed_job,
    vipps_feed_sensor,
)
from vipps_pipeline.defs.report import ledger_report, ledger_report_job, ledger_report_schedule
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.defs.schedules import daily_ledger_job, daily_ledger_schedule
from vipps_pipeline.defs.sensors import (
    ledger_refresh_sensor,
    refresh_ledgers_job,
    vipps_sync_sensor,
)
from vipps_pipeline.defs.sync import ledger_freshness, vipps_sync_job


def build_defs(resources: Mapping[str, object]) -> dg.Definitions:
    """Everything the project defines, with the given resources (tests pass their own).

    Runs execute in-process: each job is one step per asset or op that talks to the API in
    order, so a step process per run would only add a second interpreter start-up (seconds
    per run) and nothing in parallel."""
    return dg.Definitions(
        assets=[ledgers, ledger_day_assets, ledger_report, *FEED_SPECS],
        asset_checks=[ledger_freshness, feed_matches_report],
        jobs=[
            daily_ledger_job,
            refresh_ledgers_job,
            vipps_sync_job,
            vipps_feed_job,
            ledger_report_job,
        ],
        schedules=[daily_ledger_schedule, ledger_report_schedule],
        sensors=[ledger_refresh_sensor, vipps_sync_sensor, vipps_feed_sensor],
        resources=dict(resources),
        executor=dg.in_process_executor,
    )


defs = build_defs({"api": ReportApiResource.from_env(), "pipeline": PipelineResource.from_env()})
