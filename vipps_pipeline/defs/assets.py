"""The assets: the ledger list, and the ledger-day datasets (reports, statements, findings).

The four ledger-day datasets are one multi-asset, computed in one step: the step stores what
the API has final, and reports a materialization for exactly the partitions whose files it
wrote. A ranged run never returns a result that would stand for its whole range, so a day that
is not ready, or failed, stays missing in the UI as it is on disk.
"""

from collections.abc import Iterator

import dagster as dg
from dagster._core.events import DagsterEvent

from vipps_pipeline import ledger_run as lr
from vipps_pipeline.client import ApiError
from vipps_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    ledger_day_partitions,
    ledger_days,
    ledger_partitions,
    run_partition_keys,
)
from vipps_pipeline.defs.recording import (
    JOURNAL,
    JOURNAL_CHECK,
    RECONCILIATION,
    REPORT_ASSETS,
    STATEMENTS,
    Recorder,
    markdown,
)
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.ledgers import write_ledgers
from vipps_pipeline.reconcile import CHECK_GROUPS, CHECKS
from vipps_pipeline.settings import TOPICS

API_POOL = "vipps_api"
LEDGER_COLUMNS = ["ledger_id", "currency", "settles_for_recipient_handles", "sales_units", "listed"]


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
    rows = [
        {k: ", ".join(v) if isinstance(v, list) else v for k, v in row.items()}
        for row in result.table.select(LEDGER_COLUMNS).to_pylist()[:50]
    ]
    return dg.MaterializeResult(
        metadata={
            "ledgers": len(result.ledger_ids),
            "new_ledgers": dg.MetadataValue.json(new),
            "no_longer_listed": dg.MetadataValue.json(sorted(known - set(result.ledger_ids))),
            "path": dg.MetadataValue.path(str(result.path.resolve())),
            "preview": dg.MetadataValue.md(markdown(rows, LEDGER_COLUMNS)),
        }
    )


# --- ledger-days -------------------------------------------------------------------------------
def _spec(key: dg.AssetKey, description: str, deps: list[dg.AssetKey]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        deps=deps,
        description=description,
        group_name="reports" if key in REPORT_ASSETS.values() else "reconciliation",
        kinds={"python", "parquet"},
        partitions_def=ledger_day_partitions,
        skippable=True,
    )


LEDGER_DAY_SPECS = [
    *(
        _spec(
            REPORT_ASSETS[topic],
            f"The final by-date `{topic}` report of one ledger-day, every entry once, in report "
            f"order, as `<data>/reports/{topic}/<ledger>/<yyyy>/<date>.parquet`. A day that is "
            "not final yet (HTTP 404 or `tryLater`) is not stored and stays missing.",
            [ledgers.key],
        )
        for topic in TOPICS
    ),
    _spec(
        STATEMENTS,
        "Per ledger-day and topic: opening and closing balance, sum of amounts, counts and "
        "totals by entry type, payout amount, reference and reserve kept, settlement type. "
        "`<data>/statements/<ledger>/<yyyy>/<date>.parquet`.",
        list(REPORT_ASSETS.values()),
    ),
    _spec(
        JOURNAL,
        "A balanced double-entry journal per ledger-day, ready to post: one debit and one "
        "credit per entry type (or per entry), the ledger accounts (funds held at Vipps "
        "MobilePay, fees owed) against the accounts in VIPPS_JOURNAL_ACCOUNTS. "
        "`<data>/journal/<ledger>/<yyyy>/<date>.parquet` and `.csv`.",
        list(REPORT_ASSETS.values()),
    ),
    _spec(
        RECONCILIATION,
        "Findings of every accountants' check, one row per ledger, date, topic and check "
        "(`pass`, `fail`, `unknown`, `pending`), in `<data>/reconciliation/`; the same results "
        "appear as asset checks on each partition. A day's findings are recomputed whenever a "
        "neighbouring day they depend on arrives.",
        [STATEMENTS],
    ),
]


class LedgerDaysConfig(dg.Config):
    """How a run treats days already stored."""

    sync: bool = False
    """False (UI, schedule, `run`): fetch every requested date again and recompute its files.
    True: skip stored report days and recompute only stale statements and findings."""


@dg.multi_asset(
    name="ledger_days",
    specs=LEDGER_DAY_SPECS,
    check_specs=[
        *(
            dg.AssetCheckSpec(
                group,
                asset=RECONCILIATION,
                description=" ".join(CHECKS[c] for c in checks),
                partitions_def=ledger_day_partitions,
            )
            for group, checks in CHECK_GROUPS.items()
        ),
        dg.AssetCheckSpec(
            JOURNAL_CHECK,
            asset=JOURNAL,
            description="Debits equal credits, each ledger account moves as its report did, "
            "and every entry type has an account (unknown types go to suspense: a warning).",
            partitions_def=ledger_day_partitions,
        ),
    ],
    can_subset=True,
    partitions_def=ledger_day_partitions,
    backfill_policy=BACKFILL_POLICY,
    pool=API_POOL,
)
def ledger_day_assets(
    context: dg.AssetExecutionContext,
    config: LedgerDaysConfig,
    api: ReportApiResource,
    pipeline: PipelineResource,
) -> Iterator[DagsterEvent | dg.AssetObservation | dg.AssetCheckEvaluation]:
    settings = pipeline.settings()
    selected = context.selected_asset_keys
    topics = tuple(t for t in TOPICS if REPORT_ASSETS[t] in selected)
    keys = run_partition_keys(context.run.tags, context.partition_keys, context.instance)
    days = ledger_days(keys)
    by_ledger: dict[str, list] = {}
    for day in days:
        by_ledger.setdefault(day.ledger_id, []).append(day.ledger_date)
    client = api.get_client() if topics else None
    recorder = Recorder(
        context.op_execution_context,
        settings.data_dir,
        context.selected_asset_check_keys,
        settings.timezone,
    )
    works = (
        lr.Work(
            ledger_id,
            tuple(dates),
            topics=topics,
            statements=STATEMENTS in selected,
            findings=RECONCILIATION in selected,
            journal=JOURNAL in selected,
            sync=config.sync,
        )
        for ledger_id, dates in by_ledger.items()
    )
    yield from recorder.run(works, client, settings)
    recorder.finish(planned=len(keys))
