"""The tables' upkeep job: compact, vacuum and checkpoint every table."""

import dagster as dg

from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.lake.upkeep import compact_all


@dg.op(
    description="Compact every Delta table (one file per ledger), vacuum what no version "
    "within VIPPS_TABLE_RETENTION_DAYS needs, and checkpoint the log.",
)
def compact_tables(context: dg.OpExecutionContext, pipeline: PipelineResource) -> None:
    settings = pipeline.settings()
    done = compact_all(settings.data_dir, settings.table_retention_days)
    for u in done:
        context.log.info(
            f"{u.table}: {u.files_before} file(s) -> {u.files_after}; vacuum removed {u.removed}"
        )


@dg.job(
    name="tables_upkeep",
    description="Compact and vacuum the Delta tables (also `vipps-pipeline tables compact`).",
    tags={"vipps/trigger": "upkeep"},
)
def tables_upkeep_job() -> None:
    compact_tables()
