"""The `vipps_feed` job: read every due ledger's feed, and record one ledger's pass as events.

The logic lives in :mod:`vipps_pipeline.feed` (reading and storing) and
:mod:`vipps_pipeline.feed.books` (comparison, "today so far"); this module turns one ledger's
pass into events.
"""

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from vipps_pipeline.api.errors import AuthError
from vipps_pipeline.defs.feed.assets import FEED_ASSETS, FEED_RECONCILIATION, TODAY_KEY
from vipps_pipeline.defs.feed.checks import feed_check_result
from vipps_pipeline.defs.keys import API_POOL
from vipps_pipeline.defs.partitions import chosen_ledgers, ledger_partitions, partition_key
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.defs.tables import findings_table, table
from vipps_pipeline.feed import books as feed_books
from vipps_pipeline.feed import stream as feed
from vipps_pipeline.instance.events import check_target
from vipps_pipeline.settings import TOPICS, PipelineSettings
from vipps_pipeline.store.paths import CHECKS_KIND, FEED, checks_path, ledger_folder, today_path
from vipps_pipeline.sync import completeness
from vipps_pipeline.sync import engine as lr

DUE_SLACK = timedelta(seconds=60)
"""Ledgers due within this much of each other are read in the same run."""
FEED_JOB = "vipps_feed"
TODAY_COLUMNS = ["topic", "ledger_date", "entries", "sum_amount", "running_balance", "by_type"]


# --- recording one ledger's pass -------------------------------------------------------------
def _latest(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    return records[0] if records else None


def _feed_events(
    context: dg.OpExecutionContext, settings: PipelineSettings, lp: feed_books.LedgerPass
) -> Iterator[dg.AssetMaterialization]:
    """A materialization per topic whose stored rows changed since the last one recorded
    (this pass added or pruned some, or a killed run left some unrecorded)."""
    pruned = {t for c in lp.comparisons for t in c.pruned}
    schedule = feed.Schedule.load(settings.data_dir, lp.ledger_id)
    for topic in TOPICS:
        record = feed.Record.load(settings.data_dir, lp.ledger_id, topic)
        latest = _latest(context.instance, FEED_ASSETS[topic], lp.ledger_id)
        seen = latest.asset_materialization.metadata.get("stored_total") if latest else None
        if (seen.value if seen else 0) == record.stored and topic not in pruned:
            continue  # nothing stored since the last one recorded
        result = lp.results.get(topic)
        folder = ledger_folder(settings.data_dir, f"{FEED}/{topic}", lp.ledger_id)
        yield dg.AssetMaterialization(
            asset_key=FEED_ASSETS[topic],
            partition=lp.ledger_id,
            metadata={
                "added": result.entries if result else 0,
                "added_by_date": dg.MetadataValue.json(
                    {d.isoformat(): n for d, n in sorted((result.added if result else {}).items())}
                ),
                "stored_total": record.stored,
                "pages_total": record.pages,
                "newest_entry_time": str(record.newest_time or "-"),
                "caught_up_at": str(schedule.caught_up_at or "-"),
                "pruned_dates": dg.MetadataValue.json(
                    sorted(str(c.ledger_date) for c in lp.comparisons if topic in c.pruned)
                ),
                "path": dg.MetadataValue.path(str(folder.resolve())),
            },
        )


def _today_event(settings: PipelineSettings, ledger_id: str) -> dg.AssetMaterialization:
    path = today_path(settings.data_dir, ledger_id)
    rows = pq.read_table(path).to_pylist()
    shown = [
        {
            **r,
            "by_type": "; ".join(
                f"{t} {n} x = {total}"
                for (t, n), (_, total) in zip(r["count_by_type"], r["total_by_type"], strict=True)
            ),
        }
        for r in rows
    ]
    return dg.AssetMaterialization(
        asset_key=TODAY_KEY,
        partition=ledger_id,
        metadata={
            "open_dates": dg.MetadataValue.json(sorted({str(r["ledger_date"]) for r in rows})),
            "entries": sum(r["entries"] for r in rows),
            "today_so_far": table(shown, TODAY_COLUMNS),
            "as_of": str(max((r["as_of"] for r in rows if r["as_of"]), default="-")),
            "path": dg.MetadataValue.path(str(path.resolve())),
        },
    )


def _comparison_events(
    context: dg.OpExecutionContext,
    settings: PipelineSettings,
    comparisons: list[feed_books.Comparison],
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """A materialization per compared ledger-day, then the check tied to it."""
    for c in comparisons:
        path = checks_path(settings.data_dir, c.ledger_id, c.ledger_date)
        yield dg.AssetMaterialization(
            asset_key=FEED_RECONCILIATION,
            partition=partition_key(c.ledger_id, c.ledger_date),
            metadata={
                **{r["topic"]: r["status"] for r in c.rows},
                "findings": findings_table(list(c.rows), None),
                "pruned": dg.MetadataValue.json(list(c.pruned)),
                "path": dg.MetadataValue.path(str(path.resolve())),
            },
        )
    for c in comparisons:
        key = partition_key(c.ledger_id, c.ledger_date)
        record = _latest(context.instance, FEED_RECONCILIATION, key)
        result = feed_check_result(list(c.rows))
        yield dg.AssetCheckEvaluation(
            asset_key=FEED_RECONCILIATION,
            check_name=feed_books.CHECK,
            passed=result.passed,
            severity=result.severity,
            partition=key,
            description=result.description,
            metadata=result.metadata,
            target_materialization_data=check_target(record) if record else None,
        )


def _unrecorded_comparisons(
    context: dg.OpExecutionContext, settings: PipelineSettings, ledger_ids: list[str]
) -> list[feed_books.Comparison]:
    """Comparison files a killed run wrote but did not record, so the UI catches up. Only
    looked for when the previous feed run did not succeed (the look costs a query of every
    recorded partition, and runs come every few minutes)."""
    previous = [
        r
        for r in context.instance.get_runs(dg.RunsFilter(job_name=FEED_JOB), limit=2)
        if r.run_id != context.run_id
    ]
    if previous and previous[0].status == dg.DagsterRunStatus.SUCCESS:
        return []
    marked = context.instance.get_materialized_partitions(FEED_RECONCILIATION)
    out = []
    for ledger_id in ledger_ids:
        inv = completeness.scan(settings.data_dir, ledger_id, (CHECKS_KIND,))
        for d in sorted(inv.dates(CHECKS_KIND)):
            if partition_key(ledger_id, d) not in marked:
                path = checks_path(settings.data_dir, ledger_id, d)
                rows = tuple(pq.read_table(path).to_pylist())
                out.append(feed_books.Comparison(ledger_id, d, rows))
    return out


def summary_line(lp: feed_books.LedgerPass) -> str:
    parts = [
        f"{t} +{r.entries} in {r.requests} request(s)" + ("" if r.caught_up else " (not caught up)")
        for t, r in lp.results.items()
    ]
    if lp.comparisons:
        statuses = [c.status for c in lp.comparisons]
        parts.append(
            f"compared {len(statuses)} closed date(s): "
            + ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
        )
    return f"ledger {lp.ledger_id}: " + "; ".join(parts + [e[1] for e in lp.errors])


# --- the job and the sensor ------------------------------------------------------------------
class FeedConfig(dg.Config):
    ledgers: list[str] = Field(default_factory=list)
    """Only these ledgers (empty: every registered ledger)."""
    force: bool = False
    """Read every ledger now, whatever its schedule says (`vipps-pipeline feed`)."""


@dg.op(
    out={},
    pool=API_POOL,
    description="Read every due ledger's feed (both topics) from its cursor until caught up, "
    "compare the dates that closed with their reports, and refresh today so far.",
)
def read_feed(
    context: dg.OpExecutionContext,
    config: FeedConfig,
    api: ReportApiResource,
    pipeline: PipelineResource,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    settings = pipeline.settings()
    now = settings.now()
    ids, _ = chosen_ledgers(context.instance, ledger_partitions, config.ledgers)
    client = api.get_client()
    breaker = lr.Breaker(settings.max_consecutive_errors)
    failures: list[str] = []
    done: list[str] = []
    for ledger_id in ids:
        if not config.force and not feed.Schedule.load(settings.data_dir, ledger_id).due(
            now, DUE_SLACK
        ):
            continue
        try:
            lp = feed_books.run_feed_pass(client, settings, ledger_id, now)
        except AuthError as exc:
            failures.append(f"authentication failed, stopping: {exc}")
            break
        done.append(ledger_id)
        yield from _feed_events(context, settings, lp)
        yield from _comparison_events(context, settings, lp.comparisons)
        if lp.today_changed:
            yield _today_event(settings, ledger_id)
        context.log.info(summary_line(lp))
        failures += [f"ledger {ledger_id}, {topic}: {message}" for topic, message, _ in lp.errors]
        try:
            for _, message, transport in lp.errors:
                if transport:
                    breaker.failure(message)
            if not lp.errors:
                breaker.success()
        except lr.Outage as exc:
            failures.append(str(exc))
            break
    healed = _unrecorded_comparisons(context, settings, done)
    yield from _comparison_events(context, settings, healed)
    if failures:
        raise dg.Failure(
            description=f"{len(failures)} feed error(s): " + "; ".join(failures[:10]),
            metadata={"errors": dg.MetadataValue.json(failures[:200])},
            allow_retries=False,
        )


@dg.job(
    name=FEED_JOB,
    description="Today's entries: read every due ledger's feed until caught up (launched by "
    "`vipps_feed_sensor` and `vipps-pipeline feed`).",
    tags={"vipps/trigger": "feed"},
)
def vipps_feed_job() -> None:
    read_feed()
