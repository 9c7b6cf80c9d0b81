"""The sync job: what the planner says, for every ledger, in one run.

The hourly sensor and ``vipps-pipeline sync`` both launch it. It walks each ledger from its
frontier to yesterday, never waits for a day that is not ready (the next poll is the retry),
recomputes stale statements and findings, and ends with the per-ledger freshness check. Its
materializations carry the ledger-day partitions, so the UI shows exactly what it stored.
"""

import os
from collections.abc import Iterator, Mapping
from datetime import date

import dagster as dg
from pydantic import Field

from vipps_pipeline.books.reconcile import CHECK_GROUPS
from vipps_pipeline.defs.keys import (
    API_POOL,
    JOURNAL_CHECK,
    JOURNAL_KEY,
    LEDGERS_KEY,
    RECONCILIATION_KEY,
    REPORT_ASSETS,
    STATEMENTS_KEY,
)
from vipps_pipeline.defs.partitions import (
    UNSHARDED,
    Shard,
    chosen_ledgers,
    partition_key,
    shard_ledger_partitions,
)
from vipps_pipeline.defs.recording import Recorded, Recorder
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.defs.sync.checks import freshness_evaluation, latest_ledgers_record
from vipps_pipeline.defs.sync.plans import freshness_rows, plan
from vipps_pipeline.lake import commit as lake
from vipps_pipeline.settings import TOPICS, PipelineSettings
from vipps_pipeline.sync import completeness, planner
from vipps_pipeline.sync import engine as lr

__all__ = ["SyncConfig", "build_sync_job", "freshness_rows", "sync_ledgers", "vipps_sync_job"]


def _progress(total: int):
    """A terminal progress bar when `vipps-pipeline sync` runs this op in its own process
    (VIPPS_PROGRESS: "1", or "k/n" for the k-th of n runs at once, each on its own line)."""
    from tqdm import tqdm

    share = os.environ.get("VIPPS_PROGRESS", "")
    k, _, n = share.partition("/")
    return tqdm(
        total=total,
        desc=f"sync {share}" if n else "sync",
        unit="ledger",
        position=int(k) - 1 if n and k.isdigit() else None,
        disable=not share,
    )


def _works(
    settings: PipelineSettings,
    ids: list[str],
    today: date,
    fetch: bool,
    bar,
    inventories: dict[str, completeness.Inventory],
) -> Iterator[lr.Work]:
    """Each ledger's work as the planner sees it when its turn comes (a ledger's files may
    have changed while the ones before it ran). Its files are listed here, once: the engine
    keeps that inventory current as it writes, and the sync's end (the files to record, the
    freshness rows) reads it from ``inventories`` instead of listing again."""
    for ledger_id in ids:
        bar.update()
        inv = inventories[ledger_id] = completeness.scan(settings.data_dir, ledger_id, verify=True)
        dates = plan(settings, ledger_id, today, inv).dates(fetch=fetch)
        if dates:
            topics = TOPICS if fetch else ()
            yield lr.Work(ledger_id, dates, topics=topics, sync=True, inventory=inv)


class SyncConfig(dg.Config):
    ledgers: list[str] = Field(default_factory=list)
    """Only these ledgers (empty: every registered ledger)."""
    fetch: bool = True
    """False: only recompute stale statements and findings (no API call)."""


def sync_shard(
    context: dg.OpExecutionContext,
    config: SyncConfig,
    api: ReportApiResource,
    pipeline: PipelineResource,
    shard: Shard = UNSHARDED,
) -> Iterator[Recorded]:
    """The sync of one shard's ledgers, recorded under its asset keys."""
    partitions = shard_ledger_partitions(shard)
    ledgers_key = shard.key(LEDGERS_KEY)
    settings = pipeline.settings()
    today = settings.today()
    ids, registered = chosen_ledgers(context.instance, partitions, config.ledgers)
    client = api.get_client() if config.fetch else None
    checks = [dg.AssetCheckKey(shard.key(RECONCILIATION_KEY), group) for group in CHECK_GROUPS]
    checks.append(dg.AssetCheckKey(shard.key(JOURNAL_KEY), JOURNAL_CHECK))
    recorder = Recorder(
        context, settings.data_dir, checks, settings.timezone, shard, settings.poll_minute
    )
    inventories: dict[str, completeness.Inventory] = {}
    with _progress(len(ids)) as bar:
        works = _works(settings, ids, today, config.fetch, bar, inventories)
        yield from recorder.run(works, client, settings)
    if recorder.outage is None:
        yield from record_unrecorded(context, settings, ids, recorder, shard, inventories)
        files = {ledger_id: inv.files for ledger_id, inv in inventories.items()}
        repaired = lake.catch_up_all(settings.data_dir, files)
        if repaired:
            context.log.warning(f"tables brought in line with the landing files: {repaired}")
    rows = freshness_rows(settings, registered, today, inventories)
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
    ) -> Iterator[Recorded]:
        yield from sync_shard(context, config, api, pipeline, shard)

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
    inventories: Mapping[str, completeness.Inventory] | None = None,
) -> Iterator[Recorded]:
    """Record files that are on disk but not in Dagster (a step killed between writing a file
    and reporting it), so the UI's partition status catches up with the data. ``inventories``:
    the ledgers this sync listed and kept current (the others are listed here)."""
    kinds = {shard.key(REPORT_ASSETS[t]): f"reports/{t}" for t in TOPICS} | {
        shard.key(STATEMENTS_KEY): "statements",
        shard.key(RECONCILIATION_KEY): "reconciliation",
        shard.key(JOURNAL_KEY): "journal",
    }
    known = inventories or {}
    inventories = {
        lid: known[lid] if lid in known else completeness.scan(settings.data_dir, lid, verify=True)
        for lid in ledger_ids
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
