"""The code location: ``dagster dev`` in the repository root loads ``defs`` from here."""

from collections.abc import Mapping

import dagster as dg

from vipps_pipeline.defs.assets import (
    daily_statements,
    fees_report,
    funds_report,
    ledgers,
    reconciliation,
)
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.defs.schedules import daily_ledger_job, daily_ledger_schedule
from vipps_pipeline.defs.sensors import (
    automation_sensor,
    ledger_refresh_sensor,
    refresh_ledgers_job,
)


def build_defs(resources: Mapping[str, object]) -> dg.Definitions:
    """Everything the project defines, with the given resources (tests pass their own)."""
    return dg.Definitions(
        assets=[ledgers, funds_report, fees_report, daily_statements, reconciliation],
        jobs=[daily_ledger_job, refresh_ledgers_job],
        schedules=[daily_ledger_schedule],
        sensors=[ledger_refresh_sensor, automation_sensor],
        resources=dict(resources),
    )


defs = build_defs({"api": ReportApiResource.from_env(), "pipeline": PipelineResource.from_env()})
