"""The feed's check: a closed ledger date's feed entries equal its by-date report."""

from datetime import date

import dagster as dg
import pyarrow.parquet as pq

from vipps_pipeline.defs.feed.assets import FEED_RECONCILIATION
from vipps_pipeline.defs.partitions import ledger_day_partitions
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.defs.tables import findings_table
from vipps_pipeline.domain import Status
from vipps_pipeline.feed import books as feed_books
from vipps_pipeline.store.paths import checks_path


@dg.asset_check(
    asset=FEED_RECONCILIATION,
    name=feed_books.CHECK,
    partitions_def=ledger_day_partitions,
    description="The feed's entries of a closed ledger date equal its by-date report: same "
    "entries, same order, same balances. Pending while the feed lags behind the report.",
)
def feed_matches_report(
    context: dg.AssetCheckExecutionContext, pipeline: PipelineResource
) -> dg.AssetCheckResult:
    """Executed from the UI: what the last comparison of the partition stored (the `vipps_feed`
    job compares; the inputs may be pruned since)."""
    settings = pipeline.settings()
    rows: list[dict] = []
    if context.has_partition_key:
        day = ledger_day_partitions.get_partition_key_from_str(str(context.partition_key))
        ledger_id, d = day.keys_by_dimension["ledger"], day.keys_by_dimension["date"]
        path = checks_path(settings.data_dir, ledger_id, date.fromisoformat(d))
        rows = pq.read_table(path).to_pylist() if path.exists() else []
    return feed_check_result(rows)


def feed_check_result(rows: list[dict]) -> dg.AssetCheckResult:
    """One comparison's verdict, shared by the UI's execution and the job's evaluations so the
    two never disagree: a fail is an ERROR, anything else (pending, not compared) a pass."""
    statuses = {r["status"] for r in rows}
    return dg.AssetCheckResult(
        passed=Status.FAIL not in statuses,
        severity=dg.AssetCheckSeverity.ERROR
        if Status.FAIL in statuses
        else dg.AssetCheckSeverity.WARN,
        description=", ".join(f"{r['topic']} {r['status']}" for r in rows) or "not compared yet",
        metadata={"findings": findings_table(rows, None)},
    )
