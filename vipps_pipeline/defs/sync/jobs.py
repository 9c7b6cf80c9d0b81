"""The sync job: what the planner says, for every ledger, in one run.

The hourly sensor and ``vipps-pipeline sync`` both launch it. It walks each ledger from its
frontier to yesterday, never waits for a day that is not ready (the next poll is the retry),
recomputes stale statements and findings, and ends with the per-ledger freshness check. Its
materializations carry the ledger-day partitions, so the UI shows exactly what it stored.
"""

import os
from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
from dagster._core.events import DagsterEvent
from pydantic import Field

from vipps_pipeline.books.reconcile import CHECK_GROUPS
from vipps_pipeline.defs.ledger_days.assets import API_POOL, ledgers
from vipps_pipeline.defs.partitions import (
    UNSHARDED,
    Shard,
    partition_key,
    shard_ledger_partitions,
)
from vipps_pipeline.defs.recording import (
    JOURNAL,
    JOURNAL_CHECK,
    RECONCILIATION,
    REPORT_ASSETS,
    STATEMENTS,
    Recorder,
    markdown,
    target_of,
)
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.settings import TOPICS, PipelineSettings
from vipps_pipeline.sync import completeness, planner
from vipps_pipeline.sync import engine as lr

FRESHNESS_CHECK = "ledger_freshness"
FRESHNESS_COLUMNS = ["ledger_id", "status", "final_through", "open_since", "days_behind", "detail"]


def plan(settings: PipelineSettings, ledger_id: str, today: date) -> planner.LedgerPlan:
    return planner.plan_stored(
        settings.data_dir,
        ledger_id,
        start=settings.start_date,
        until=today - timedelta(days=1),
        window=settings.fee_window_days,
    )


def freshness_rows(
    settings: PipelineSettings, ledger_ids: list[str], today: date
) -> list[planner.Freshness]:
    return [
        planner.freshness(
            plan(settings, ledger_id, today),
            today=today,
            stale_days=settings.stale_days,
            persistent_404_days=settings.persistent_404_days,
        )
        for ledger_id in ledger_ids
    ]


def freshness_evaluation(
    rows: list[planner.Freshness],
    target: dg.EventLogRecord | None = None,
    asset_key: dg.AssetKey = ledgers.key,
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
        target_materialization_data=target_of(target) if target else None,
        metadata={
            **counts,
            "ledgers": dg.MetadataValue.md(
                markdown(
                    [
                        r.__dict__
                        for r in sorted(rows, key=lambda r: (r.status == "ok", r.ledger_id))
                    ],
                    FRESHNESS_COLUMNS,
                    "_no ledgers registered_",
                )
            ),
        },
    )


def latest_ledgers_record(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey = ledgers.key
) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(asset_key, limit=1).records
    return records[0] if records else None


def build_freshness_check(shard: Shard = UNSHARDED) -> dg.AssetChecksDefinition:
    ledgers_key = shard.key(ledgers.key)
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


def _progress(total: int):
    """A terminal progress bar when `vipps-pipeline sync` runs this op in its own process."""
    from tqdm import tqdm

    return tqdm(
        total=total, desc="sync", unit="ledger", disable=not os.environ.get("VIPPS_PROGRESS")
    )


def _works(
    settings: PipelineSettings, ids: list[str], today: date, fetch: bool, bar
) -> Iterator[lr.Work]:
    """Each ledger's work as the planner sees it when its turn comes (plans are cheap, and a
    ledger's files may have changed while the ones before it ran)."""
    for ledger_id in ids:
        bar.update()
        dates = plan(settings, ledger_id, today).dates(fetch=fetch)
        if dates:
            yield lr.Work(ledger_id, dates, topics=TOPICS if fetch else (), sync=True)


class SyncConfig(dg.Config):
    ledgers: list[str] = Field(default_factory=list)
    """Only these ledgers (empty: every registered ledger)."""
    fetch: bool = True
    """False: only recompute stale statements and findings (no API call)."""


def run_sync(
    context: dg.OpExecutionContext,
    config: SyncConfig,
    api: ReportApiResource,
    pipeline: PipelineResource,
    shard: Shard = UNSHARDED,
) -> Iterator[DagsterEvent | dg.AssetObservation | dg.AssetCheckEvaluation]:
    """The sync of one shard's ledgers, recorded under its asset keys."""
    partitions = shard_ledger_partitions(shard)
    ledgers_key = shard.key(ledgers.key)
    settings = pipeline.settings()
    today = settings.today()
    registered = sorted(context.instance.get_dynamic_partitions(partitions.name))
    unknown = sorted(set(config.ledgers) - set(registered))
    if unknown:
        raise dg.Failure(
            f"ledger(s) {', '.join(unknown)} not registered: materialize `ledgers` first "
            f"(registered: {', '.join(registered) or 'none'})",
            allow_retries=False,
        )
    ids = config.ledgers or registered
    client = api.get_client() if config.fetch else None
    checks = [dg.AssetCheckKey(shard.key(RECONCILIATION), group) for group in CHECK_GROUPS]
    checks.append(dg.AssetCheckKey(shard.key(JOURNAL), JOURNAL_CHECK))
    recorder = Recorder(context, settings.data_dir, checks, settings.timezone, shard)
    with _progress(len(ids)) as bar:
        yield from recorder.run(_works(settings, ids, today, config.fetch, bar), client, settings)
    if recorder.outage is None:
        yield from record_unrecorded(context, settings, ids, recorder, shard)
    rows = freshness_rows(settings, registered, today)
    broken = set(ids) if recorder.outage else recorder.summary.failed_ledgers
    rows = [
        planner.failed(r, "this sync failed on it") if r.ledger_id in broken else r for r in rows
    ]
    yield freshness_evaluation(
        rows,
        latest_ledgers_record(context.instance, ledgers_key),
        ledgers_key,
    )
    recorder.finish(planned=0)


def build_sync_job(shard: Shard = UNSHARDED) -> dg.JobDefinition:
    """One shard's sync job; every location names it `vipps_sync` (one shard per location)."""

    @dg.op(
        out={},
        pool=API_POOL,
        description="Fetch every ledger from its frontier to yesterday, reconcile what arrived, "
        "and evaluate the ledger freshness check.",
    )
    def sync_ledgers(
        context: dg.OpExecutionContext,
        config: SyncConfig,
        api: ReportApiResource,
        pipeline: PipelineResource,
    ) -> Iterator[DagsterEvent | dg.AssetObservation | dg.AssetCheckEvaluation]:
        yield from run_sync(context, config, api, pipeline, shard)

    @dg.job(
        name="vipps_sync",
        description="What the planner says, for every ledger: launched hourly by "
        "`vipps_sync_sensor` and by `vipps-pipeline sync`.",
        tags={"vipps/trigger": "sync", **shard.tags()},
    )
    def vipps_sync_job() -> None:
        sync_ledgers()

    return vipps_sync_job


def record_unrecorded(
    context: dg.OpExecutionContext,
    settings: PipelineSettings,
    ledger_ids: list[str],
    recorder: Recorder,
    shard: Shard = UNSHARDED,
) -> Iterator[DagsterEvent | dg.AssetObservation | dg.AssetCheckEvaluation]:
    """Record files that are on disk but not in Dagster (a step killed between writing a file
    and reporting it), so the UI's partition status catches up with the data."""
    kinds = {shard.key(REPORT_ASSETS[t]): f"reports/{t}" for t in TOPICS} | {
        shard.key(STATEMENTS): "statements",
        shard.key(RECONCILIATION): "reconciliation",
        shard.key(JOURNAL): "journal",
    }
    inventories = {
        lid: completeness.scan(settings.data_dir, lid, verify=True) for lid in ledger_ids
    }
    healed = 0
    for asset_key, kind in kinds.items():
        marked = context.instance.get_materialized_partitions(asset_key)
        for ledger_id, inv in inventories.items():
            missing = [d for d in inv.dates(kind) if partition_key(ledger_id, d) not in marked]
            if missing:
                healed += len(missing)
                yield from recorder.record(
                    lr.events_for_files(settings.data_dir, ledger_id, kind, missing)
                )
    if healed:
        context.log.warning(
            f"recorded {healed} ledger-day file(s) that were stored but not recorded "
            "(an earlier run was interrupted)"
        )


vipps_sync_job = build_sync_job()
sync_ledgers = vipps_sync_job.graph.node_defs[0]
