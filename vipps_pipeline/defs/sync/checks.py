"""The ledger freshness check: per ledger, how far its reports are final.

The sync job evaluates it at its end; executed from the UI it evaluates the same thing.
"""

import dagster as dg

from vipps_pipeline.defs.keys import LEDGERS_KEY
from vipps_pipeline.defs.partitions import UNSHARDED, Shard, shard_ledger_partitions
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.defs.sync.plans import freshness_rows
from vipps_pipeline.defs.tables import table
from vipps_pipeline.instance.events import check_target
from vipps_pipeline.sync import planner

FRESHNESS_CHECK = "ledger_freshness"
FRESHNESS_COLUMNS = ["ledger_id", "status", "final_through", "open_since", "days_behind", "detail"]


def freshness_evaluation(
    rows: list[planner.Freshness],
    target: dg.EventLogRecord | None = None,
    asset_key: dg.AssetKey = LEDGERS_KEY,
) -> dg.AssetCheckEvaluation:
    """ERROR when a ledger's 404 persists (not yours?), WARN when one is open too long."""
    statuses = {r.status for r in rows}
    severity = (
        dg.AssetCheckSeverity.ERROR if "not_yours" in statuses else dg.AssetCheckSeverity.WARN
    )
    attention = [r for r in rows if r.status in planner.ATTENTION]
    statuses = ("ok", "open", "catching_up", "stale", "failed", "not_yours")
    counts = {s: sum(r.status == s for r in rows) for s in statuses}
    return dg.AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=FRESHNESS_CHECK,
        passed=not attention,
        severity=severity,
        description=(
            ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n) or "no ledgers"
        ),
        target_materialization_data=check_target(target) if target else None,
        metadata={
            **counts,
            "ledgers": table(
                [r.__dict__ for r in sorted(rows, key=lambda r: (r.status == "ok", r.ledger_id))],
                FRESHNESS_COLUMNS,
            ),
        },
    )


def latest_ledgers_record(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey = LEDGERS_KEY
) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(asset_key, limit=1).records
    return records[0] if records else None


def build_freshness_check(shard: Shard = UNSHARDED) -> dg.AssetChecksDefinition:
    ledgers_key = shard.key(LEDGERS_KEY)
    partitions = shard_ledger_partitions(shard)

    @dg.asset_check(
        asset=ledgers_key,
        name=FRESHNESS_CHECK,
        description="Per ledger: how far its reports are final. WARN when a ledger has not "
        "been final for more than VIPPS_STALE_DAYS (past a monthly settlement); ERROR when a "
        "date still answers HTTP 404 VIPPS_PERSISTENT_404_DAYS after it (the ledger may not be "
        "yours).",
    )
    def ledger_freshness(
        context: dg.AssetCheckExecutionContext, pipeline: PipelineResource
    ) -> dg.AssetCheckResult:
        settings = pipeline.settings()
        ids = sorted(context.instance.get_dynamic_partitions(partitions.name))
        e = freshness_evaluation(freshness_rows(settings, ids, settings.today()), None, ledgers_key)
        return dg.AssetCheckResult(
            passed=e.passed, severity=e.severity, description=e.description, metadata=e.metadata
        )

    return ledger_freshness


ledger_freshness = build_freshness_check()
