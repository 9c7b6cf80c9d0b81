"""The feed in Dagster: its assets, the comparison check, the `vipps_feed` job and its sensor.

The logic lives in :mod:`vipps_pipeline.feed` (reading and storing) and
:mod:`vipps_pipeline.feed.books` (comparison, "today so far"); this module turns one ledger's
pass into events. The feed's assets are declared, not computed by Dagster: only the job's op
writes them, and it reports a materialization exactly when it changed a dataset, so the UI
never shows a partition as stored that is not.
"""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import pyarrow.parquet as pq
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from pydantic import Field

from vipps_pipeline.api.client import AuthError
from vipps_pipeline.defs.ledger_days.assets import API_POOL, ledgers
from vipps_pipeline.defs.partitions import ledger_day_partitions, ledger_partitions, partition_key
from vipps_pipeline.defs.recording import FINDING_COLUMNS, REPORT_ASSETS, markdown
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.defs.sync.sensors import IN_FLIGHT
from vipps_pipeline.feed import books as feed_books
from vipps_pipeline.feed import stream as feed
from vipps_pipeline.feed import today as feed_today
from vipps_pipeline.settings import TOPICS, PipelineSettings
from vipps_pipeline.sync import completeness
from vipps_pipeline.sync import engine as lr

FEED_ASSETS = {t: dg.AssetKey(f"{t}_feed") for t in TOPICS}
TODAY = dg.AssetKey("today_so_far")
FEED_RECONCILIATION = dg.AssetKey("feed_reconciliation")
DUE_SLACK = timedelta(seconds=60)
"""Ledgers due within this much of each other are read in the same run."""
FEED_JOB = "vipps_feed"
TODAY_COLUMNS = ["topic", "ledger_date", "entries", "sum_amount", "running_balance", "by_type"]


def _spec(key: dg.AssetKey, partitions, deps, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        deps=deps,
        partitions_def=partitions,
        group_name="feed",
        kinds={"python", "parquet"},
        description=description,
    )


FEED_SPECS = [
    *(
        _spec(
            FEED_ASSETS[t],
            ledger_partitions,
            [ledgers.key],
            f"Provisional `{t}` entries from the feed, per ledger, stored as they arrive in "
            f"`<data>/feed/{t}/<ledger>/<yyyy>/<date>.parquet` (the report columns plus "
            "`feed_position` and `stored_at`). Written by the `vipps_feed` job; a closed "
            "date's rows are pruned once they match its report (VIPPS_FEED_PRUNE).",
        )
        for t in TOPICS
    ),
    _spec(
        TODAY,
        ledger_partitions,
        list(FEED_ASSETS.values()),
        "Today so far: per ledger, topic and open date (entries from the feed, no by-date "
        "report yet) the entries, sums by entry type and the running balance, in "
        "`<data>/today/<ledger>.parquet`. Provisional: the report of the closed date is final.",
    ),
    _spec(
        FEED_RECONCILIATION,
        ledger_day_partitions,
        [*FEED_ASSETS.values(), *REPORT_ASSETS.values()],
        "The feed against the closed day: per ledger-day and topic, whether the feed's entries "
        "equal the by-date report's (same entries, order and balances), in "
        "`<data>/feed_checks/<ledger>/<yyyy>/<date>.parquet`; shown as the "
        "`feed_matches_report` check.",
    ),
]


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
        path = feed_books.checks_path(settings.data_dir, ledger_id, date.fromisoformat(d))
        rows = pq.read_table(path).to_pylist() if path.exists() else []
    return _result(rows)


def _result(rows: list[dict]) -> dg.AssetCheckResult:
    statuses = {r["status"] for r in rows}
    return dg.AssetCheckResult(
        passed="fail" not in statuses,
        severity=dg.AssetCheckSeverity.ERROR if "fail" in statuses else dg.AssetCheckSeverity.WARN,
        description=", ".join(f"{r['topic']} {r['status']}" for r in rows) or "not compared yet",
        metadata={"findings": dg.MetadataValue.md(markdown(rows, FINDING_COLUMNS, "_none_"))},
    )


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
        folder = settings.data_dir / "feed" / topic / lp.ledger_id
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
    path = feed_today.today_path(settings.data_dir, ledger_id)
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
        asset_key=TODAY,
        partition=ledger_id,
        metadata={
            "open_dates": dg.MetadataValue.json(sorted({str(r["ledger_date"]) for r in rows})),
            "entries": sum(r["entries"] for r in rows),
            "today_so_far": dg.MetadataValue.md(
                markdown(shown, TODAY_COLUMNS, "_no open dates with entries_")
            ),
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
        path = feed_books.checks_path(settings.data_dir, c.ledger_id, c.ledger_date)
        yield dg.AssetMaterialization(
            asset_key=FEED_RECONCILIATION,
            partition=partition_key(c.ledger_id, c.ledger_date),
            metadata={
                **{r["topic"]: r["status"] for r in c.rows},
                "findings": dg.MetadataValue.md(markdown(list(c.rows), FINDING_COLUMNS)),
                "pruned": dg.MetadataValue.json(list(c.pruned)),
                "path": dg.MetadataValue.path(str(path.resolve())),
            },
        )
    for c in comparisons:
        key = partition_key(c.ledger_id, c.ledger_date)
        record = _latest(context.instance, FEED_RECONCILIATION, key)
        result = _result(list(c.rows))
        yield dg.AssetCheckEvaluation(
            asset_key=FEED_RECONCILIATION,
            check_name=feed_books.CHECK,
            passed=result.passed,
            severity=result.severity,
            partition=key,
            description=result.description,
            metadata=result.metadata,
            target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
            if record
            else None,
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
        inv = completeness.scan(settings.data_dir, ledger_id, (feed_books.CHECKS_KIND,))
        for d in sorted(inv.dates(feed_books.CHECKS_KIND)):
            if partition_key(ledger_id, d) not in marked:
                path = feed_books.checks_path(settings.data_dir, ledger_id, d)
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
    registered = sorted(context.instance.get_dynamic_partitions(ledger_partitions.name))
    unknown = sorted(set(config.ledgers) - set(registered))
    if unknown:
        raise dg.Failure(
            f"ledger(s) {', '.join(unknown)} not registered: materialize `ledgers` first",
            allow_retries=False,
        )
    ids = config.ledgers or registered
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


@dg.sensor(
    job=vipps_feed_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads each ledger's feed when it is due: every VIPPS_FEED_POLL_SECONDS while "
    "entries keep coming, backing off to VIPPS_FEED_MAX_POLL_SECONDS while there are none.",
)
def vipps_feed_sensor(
    context: dg.SensorEvaluationContext, pipeline: PipelineResource
) -> dg.RunRequest | dg.SkipReason:
    settings = pipeline.settings()
    if context.instance.get_run_ids(
        dg.RunsFilter(job_name=vipps_feed_job.name, statuses=IN_FLIGHT), limit=1
    ):
        return dg.SkipReason("a vipps_feed run is still in progress")
    now = settings.now()
    ids = sorted(context.instance.get_dynamic_partitions(ledger_partitions.name))
    schedules = {lid: feed.Schedule.load(settings.data_dir, lid) for lid in ids}
    due = [lid for lid, s in schedules.items() if s.due(now, DUE_SLACK)]
    if not due:
        upcoming = min((s.next_poll_at for s in schedules.values() if s.next_poll_at), default=None)
        return dg.SkipReason(
            f"no ledger due; next feed pass at {upcoming:%H:%M:%S}" if upcoming else "no ledgers"
        )
    return dg.RunRequest(
        run_key=f"feed:{now.isoformat(timespec='seconds')}",
        run_config={"ops": {read_feed.name: {"config": {"ledgers": due}}}},
        tags={"vipps/trigger": "sensor"},
    )
