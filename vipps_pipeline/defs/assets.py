"""The assets: ledger list, funds and fees reports, daily statements, reconciliation."""

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow as pa

from vipps_pipeline import books
from vipps_pipeline.client import ApiError, NotReady
from vipps_pipeline.defs.automation import downstream_condition, report_condition
from vipps_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    SETTINGS,
    LedgerDay,
    ledger_day_partitions,
    ledger_days,
    ledger_partitions,
    previous_day_mapping,
    window_mapping,
)
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.ingest import DaySummary, fetch_day
from vipps_pipeline.ledgers import write_ledgers
from vipps_pipeline.parse import BadReport
from vipps_pipeline.reconcile import CHECK_GROUPS, CHECKS
from vipps_pipeline.storage import findings_path, statement_path

API_POOL = "vipps_api"
FROM_AUTOMATION_TAG = "dagster/from_automation_condition"
"""Set by Dagster on runs its automation requests: their retry is the next hourly tick."""


# --- ledgers ---------------------------------------------------------------------------------
@dg.asset(
    group_name="ledgers",
    kinds={"python", "parquet"},
    pool=API_POOL,
    description="Every ledger the API keys can see, with currency, recipient handles, owner, "
    "sales units and the payout account masked to its last 4 digits. New ledger ids become "
    "partitions of the `ledgers` dimension; a ledger that disappears keeps its history.",
)
def ledgers(
    context: dg.AssetExecutionContext, api: ReportApiResource, pipeline: PipelineResource
) -> dg.MaterializeResult:
    client, data_dir = api.get_client(), pipeline.settings().data_dir
    try:
        result = write_ledgers(client, data_dir)
    except ApiError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    known = set(context.instance.get_dynamic_partitions(ledger_partitions.name))
    new = [lid for lid in result.ledger_ids if lid not in known]
    if new:
        context.instance.add_dynamic_partitions(ledger_partitions.name, new)
        context.log.info("registered new ledgers: %s", ", ".join(new))
    return dg.MaterializeResult(
        metadata={
            "ledgers": len(result.ledger_ids),
            "new_ledgers": dg.MetadataValue.json(new),
            "no_longer_listed": dg.MetadataValue.json(sorted(known - set(result.ledger_ids))),
            "path": dg.MetadataValue.path(str(result.path)),
            "preview": dg.MetadataValue.md(
                _markdown(result.table.select(LEDGER_COLUMNS).to_pylist()[:20], LEDGER_COLUMNS)
            ),
        }
    )


# --- reports ---------------------------------------------------------------------------------
def _day_metadata(s: DaySummary) -> dict[str, object]:
    return {
        "ledger": s.ledger_id,
        "date": s.ledger_date.isoformat(),
        "topic": s.topic,
        "rows": s.rows,
        "pages": s.pages,
        "counts_by_entry_type": dg.MetadataValue.json(dict(sorted(s.counts_by_type.items()))),
        "opening_balance": s.opening_balance,
        "closing_balance": s.closing_balance,
        "sum_amount": s.sum_amount,
        "path": dg.MetadataValue.path(str(s.path)),
        "preview": dg.MetadataValue.md(_markdown(s.preview, PREVIEW_COLUMNS)),
    }


PREVIEW_COLUMNS = [
    "seq",
    "time",
    "entry_type",
    "psp_reference",
    "amount",
    "balance_before",
    "balance_after",
]
LEDGER_COLUMNS = ["ledger_id", "currency", "settles_for_recipient_handles", "listed"]


def _markdown(rows: list[dict], cols: list[str]) -> str:
    """A small markdown table for the UI's metadata panel."""
    if not rows:
        return "_no entries_"
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _materialized_in_run(context: dg.AssetExecutionContext) -> set[str]:
    """Partitions this run already stored (a retried step skips them)."""
    records = context.instance.get_records_for_run(
        context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    done = set()
    for record in records:
        mat = record.event_log_entry.asset_materialization
        if mat is not None and mat.asset_key == context.asset_key and mat.partition:
            done.add(mat.partition)
    return done


def _local_today() -> date:
    return datetime.now(ZoneInfo(SETTINGS.timezone)).date()


def _record_stored(context: dg.AssetExecutionContext, stored: dict[str, dict]) -> None:
    """Record the partitions stored so far when the step will not return normally: a failed
    or retried ranged step must still mark what it did store."""
    for key, metadata in stored.items():
        context.log_event(
            dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=metadata)
        )


def _finish(
    context: dg.AssetExecutionContext,
    stored: dict[str, dict[str, object]],
    failures: list[str],
    range_metadata: dict[str, object],
    not_ready: list[NotReady] = (),
) -> dg.MaterializeResult:
    """Record per-partition metadata; partitions that failed are never marked materialized."""
    if not failures:
        for key, metadata in stored.items():
            context.add_asset_metadata(metadata, partition_key=key)
        return dg.MaterializeResult(metadata=range_metadata)
    _record_stored(context, stored)
    raise dg.Failure(
        description=f"{len(context.partition_keys) - len(stored)} of {len(context.partition_keys)} "
        "partitions not stored: " + "; ".join(failures[:20]),
        metadata={
            "stored": len(stored),
            "failed": dg.MetadataValue.json(failures[:200]),
            "not_ready": dg.MetadataValue.json(
                [
                    {
                        "ledger": e.ledger_id,
                        "topic": e.topic,
                        "date": e.ledger_date.isoformat(),
                        "api_said": "HTTP 404" if e.reason == "404" else "tryLater: true",
                        "detail": e.detail,
                    }
                    for e in not_ready[:200]
                ]
            ),
        },
        allow_retries=False,
    )


def _not_ready_line(waiting: list[NotReady]) -> str:
    """One line for many not-ready ledger-days: which, why, and what happens next."""
    reasons = sorted({str(e).split(": not ready: ", 1)[1] for e in waiting})
    dates = sorted(e.ledger_date for e in waiting)
    ledgers = sorted({e.ledger_id for e in waiting})
    span = str(dates[0]) if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
    return (
        f"{len(waiting)} ledger-day(s) not ready for ledger {', '.join(ledgers)}, "
        f"{waiting[0].topic}, {span}: {'; '.join(reasons)}. Nothing was stored for them; "
        "automation re-requests them hourly"
    )


def build_report_asset(topic: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{topic}_report",
        partitions_def=ledger_day_partitions,
        backfill_policy=BACKFILL_POLICY,
        pool=API_POOL,
        group_name="reports",
        kinds={"python", "parquet"},
        deps=[ledgers],
        automation_condition=report_condition(SETTINGS),
        description=f"The final by-date `{topic}` report of one ledger-day, every entry once, "
        f"in report order, as `<data>/reports/{topic}/<ledger>/<yyyy>/<date>.parquet`. "
        "A day that is not final yet (HTTP 404 or `tryLater`) is not stored.",
    )
    def _report(
        context: dg.AssetExecutionContext, api: ReportApiResource, pipeline: PipelineResource
    ) -> dg.MaterializeResult:
        settings = pipeline.settings()
        client = api.get_client()
        done = _materialized_in_run(context) if context.retry_number > 0 else set()
        stored: dict[str, dict[str, object]] = {}
        not_ready: list[NotReady] = []
        failures: list[str] = []
        rows = 0
        for day in ledger_days(context):
            if day.key in done:
                continue
            try:
                summary = fetch_day(
                    client, settings.data_dir, day.ledger_id, topic, day.ledger_date
                )
            except NotReady as exc:
                not_ready.append(exc)
                continue
            except (BadReport, ApiError) as exc:
                failures.append(str(exc))
                continue
            stored[day.key] = _day_metadata(summary)
            rows += summary.rows
        range_metadata = {"rows": rows, "partitions": len(stored), **client.stats}
        if not not_ready:
            return _finish(context, stored, failures, range_metadata)
        old = [
            e
            for e in not_ready
            if e.reason == "404"
            and (_local_today() - e.ledger_date).days > settings.persistent_404_days
        ]
        for exc in old:
            failures.append(
                f"{exc}: still 404 {(_local_today() - exc.ledger_date).days} days after the date; "
                "the ledger may not belong to these API keys (check the ledger list)"
            )
        waiting = [e for e in not_ready if e not in old]
        retries = 0 if context.run.tags.get(FROM_AUTOMATION_TAG) else settings.not_ready_retries
        if waiting and not failures and context.retry_number < retries:
            _record_stored(context, stored)
            context.log.info(
                "%d ledger-days not ready; retrying in %ss",
                len(waiting),
                settings.not_ready_delay_seconds,
            )
            raise dg.RetryRequested(
                max_retries=retries,
                seconds_to_wait=settings.not_ready_delay_seconds,
            )
        if waiting:
            failures.append(_not_ready_line(waiting))
        return _finish(context, stored, failures, range_metadata, not_ready)

    return _report


funds_report = build_report_asset("funds")
fees_report = build_report_asset("fees")


# --- statements and reconciliation ----------------------------------------------------------
def _by_ledger(days: Iterable[LedgerDay]) -> dict[str, list[LedgerDay]]:
    out: dict[str, list[LedgerDay]] = {}
    for day in days:
        out.setdefault(day.ledger_id, []).append(day)
    return out


@dg.asset(
    partitions_def=ledger_day_partitions,
    backfill_policy=BACKFILL_POLICY,
    group_name="reconciliation",
    kinds={"python", "parquet"},
    deps=[funds_report, fees_report],
    automation_condition=downstream_condition(),
    description="Per ledger-day and topic: opening and closing balance, sum of amounts, counts "
    "and totals by entry type, payout amount and reference, settlement type. "
    "`<data>/statements/<ledger>/<yyyy>/<date>.parquet`.",
)
def daily_statements(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    data_dir = pipeline.settings().data_dir
    for ledger_id, days in _by_ledger(ledger_days(context)).items():
        try:
            table = books.write_statements(data_dir, ledger_id, [d.ledger_date for d in days])
        except books.MissingInput as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        rows = {(r["topic"], r["ledger_date"]): r for r in table.to_pylist()}
        for day in days:
            context.add_asset_metadata(
                {
                    f"{topic}_{field}": rows[(topic, day.ledger_date)][field]
                    for topic in ("funds", "fees")
                    for field in ("entries", "opening_balance", "closing_balance", "sum_amount")
                }
                | {
                    "payout_amount": rows[("funds", day.ledger_date)]["payout_amount"],
                    "settlement": rows[("funds", day.ledger_date)]["settlement"] or "none",
                    "path": dg.MetadataValue.path(
                        str(statement_path(data_dir, ledger_id, day.ledger_date))
                    ),
                },
                partition_key=day.key,
            )
    return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)})


@dg.asset(
    partitions_def=ledger_day_partitions,
    backfill_policy=BACKFILL_POLICY,
    group_name="reconciliation",
    kinds={"python", "parquet"},
    deps=[
        dg.AssetDep(daily_statements, partition_mapping=previous_day_mapping()),
        dg.AssetDep(
            funds_report,
            partition_mapping=window_mapping(
                -(SETTINGS.fee_window_days - 1), SETTINGS.fee_window_days - 1
            ),
        ),
        dg.AssetDep(
            fees_report,
            partition_mapping=window_mapping(
                -(SETTINGS.fee_window_days - 1), SETTINGS.fee_window_days - 1
            ),
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            group,
            asset="reconciliation",
            description=" ".join(CHECKS[c] for c in checks),
            partitions_def=ledger_day_partitions,
        )
        for group, checks in CHECK_GROUPS.items()
    ],
    automation_condition=downstream_condition(required="daily_statements"),
    description="Findings of every accountants' check, one row per ledger, date, topic and "
    "check (`pass`, `fail`, `unknown`, `pending`), in `<data>/reconciliation/`; the same results "
    "appear as asset checks on each partition.",
)
def reconciliation(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    # Check results are logged per partition (AssetCheckResult cannot name a partition in a
    # ranged run); the check outputs are then closed with empty Outputs. A generator, because
    # with check specs a returned MaterializeResult would be read as a tuple of outputs.
    settings = pipeline.settings()
    counts = {"pass": 0, "fail": 0, "unknown": 0, "pending": 0}
    for ledger_id, days in _by_ledger(ledger_days(context)).items():
        try:
            table = books.write_findings(
                settings.data_dir,
                ledger_id,
                [d.ledger_date for d in days],
                first_date=settings.start_date,
                window=settings.fee_window_days,
            )
        except books.MissingInput as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        for status, n in _status_counts(table).items():
            counts[status] += n
        by_day: dict[date, list[dict]] = {}
        for row in table.to_pylist():
            by_day.setdefault(row["ledger_date"], []).append(row)
        for day in days:
            findings = by_day.get(day.ledger_date, [])
            day_counts = {s: sum(f["status"] == s for f in findings) for s in counts}
            context.add_asset_metadata(
                {
                    **day_counts,
                    "path": dg.MetadataValue.path(
                        str(findings_path(settings.data_dir, ledger_id, day.ledger_date))
                    ),
                },
                partition_key=day.key,
            )
            yield from _check_evaluations(context.asset_key, day.key, findings)
    yield dg.MaterializeResult(metadata=counts)
    layer = context.job_def.asset_layer
    for name in CHECK_GROUPS:
        yield dg.Output(
            None, output_name=layer.get_op_output_name(dg.AssetCheckKey(context.asset_key, name))
        )


def _status_counts(table: pa.Table) -> dict[str, int]:
    return {r["values"]: r["counts"] for r in table["status"].value_counts().to_pylist()}


def _check_evaluations(
    asset_key: dg.AssetKey, partition: str, findings: list[dict]
) -> Iterable[dg.AssetCheckEvaluation]:
    """One evaluation per check group: ERROR on a fail, WARN on unknown or pending.

    Three evaluations per ledger-day rather than ten: each is an event-log write, and a
    backfill of years of ledgers would spend most of its time writing them.
    """
    for group, checks in CHECK_GROUPS.items():
        rows = [f for f in findings if f["check"] in checks]
        statuses = {f["status"] for f in rows}
        bad = [f for f in rows if f["status"] != "pass"]
        severity = dg.AssetCheckSeverity.ERROR if "fail" in statuses else dg.AssetCheckSeverity.WARN
        yield dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=group,
            passed=not bad,
            severity=severity,
            partition=partition,
            metadata={
                "checks": dg.MetadataValue.json(
                    {f"{f['topic']}/{f['check']}": f["status"] for f in rows}
                ),
                "findings": dg.MetadataValue.json(
                    [
                        {
                            k: f[k]
                            for k in ("check", "topic", "status", "expected", "actual", "detail")
                        }
                        for f in bad
                    ]
                ),
            },
        )
