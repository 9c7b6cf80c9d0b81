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
    UNSHARDED,
    Shard,
    ledger_days,
    run_partition_keys,
    shard_ledger_partitions,
    shard_partitions,
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
def build_ledgers_asset(shard: Shard = UNSHARDED) -> dg.AssetsDefinition:
    """The ledger list of one shard: every shard lists all ledgers (one cheap call) and
    registers only its own in its own partitions."""
    return dg.asset(
        key=shard.key(dg.AssetKey("ledgers")),
        group_name="ledgers",
        kinds={"python", "parquet"},
        pool=API_POOL,
        description=_LEDGERS_DESCRIPTION,
    )(_ledgers_fn(shard))


_LEDGERS_DESCRIPTION = (
    "Every ledger the API keys can see, with currency, recipient handles, owner, "
    "sales units and the payout account masked to its last 4 digits. New ledger ids become "
    "partitions of the `ledgers` dimension; a ledger that disappears keeps its history."
)


def _ledgers_fn(shard: Shard):
    partitions = shard_ledger_partitions(shard)

    def ledgers(
        context: dg.AssetExecutionContext, api: ReportApiResource, pipeline: PipelineResource
    ) -> dg.MaterializeResult:
        return _register_ledgers(context, api, pipeline, shard, partitions)

    return ledgers


def _register_ledgers(
    context: dg.AssetExecutionContext,
    api: ReportApiResource,
    pipeline: PipelineResource,
    shard: Shard,
    partitions: dg.DynamicPartitionsDefinition,
) -> dg.MaterializeResult:
    client, settings = api.get_client(), pipeline.settings()
    try:  # first/last seen on the pipeline's clock, so a pinned VIPPS_NOW pins them too
        result = write_ledgers(client, settings.data_dir, now=settings.now())
    except ApiError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    mine = [lid for lid in result.ledger_ids if shard.owns(lid)]
    known = set(context.instance.get_dynamic_partitions(partitions.name))
    new = [lid for lid in mine if lid not in known]
    if new:
        context.instance.add_dynamic_partitions(partitions.name, new)
        context.log.info("registered new ledgers: %s", ", ".join(new))
    rows = [
        {k: ", ".join(v) if isinstance(v, list) else v for k, v in row.items()}
        for row in result.table.select(LEDGER_COLUMNS).to_pylist()[:50]
    ]
    return dg.MaterializeResult(
        metadata={
            "ledgers": len(mine),
            "new_ledgers": dg.MetadataValue.json(new),
            "no_longer_listed": dg.MetadataValue.json(sorted(known - set(mine))),
            "path": dg.MetadataValue.path(str(result.path.resolve())),
            "preview": dg.MetadataValue.md(markdown(rows, LEDGER_COLUMNS)),
        }
    )


ledgers = build_ledgers_asset()


# --- ledger-days -------------------------------------------------------------------------------
def _spec(
    key: dg.AssetKey, description: str, deps: list[dg.AssetKey], shard: Shard
) -> dg.AssetSpec:
    return dg.AssetSpec(
        shard.key(key),
        deps=[shard.key(d) for d in deps],
        description=description,
        group_name="reports" if key in REPORT_ASSETS.values() else "reconciliation",
        kinds={"python", "parquet"},
        partitions_def=shard_partitions(shard),
        skippable=True,
    )


def ledger_day_specs(shard: Shard = UNSHARDED) -> list[dg.AssetSpec]:
    return [
        *(
            _spec(
                REPORT_ASSETS[topic],
                f"The final by-date `{topic}` report of one ledger-day, every entry once, in "
                f"report order, as `<data>/reports/{topic}/<ledger>/<yyyy>/<date>.parquet`. A "
                "day that is not final yet (HTTP 404 or `tryLater`) is not stored and stays "
                "missing.",
                [dg.AssetKey("ledgers")],
                shard,
            )
            for topic in TOPICS
        ),
        _spec(
            STATEMENTS,
            "Per ledger-day and topic: opening and closing balance, sum of amounts, counts and "
            "totals by entry type, payout amount, reference and reserve kept, settlement type. "
            "`<data>/statements/<ledger>/<yyyy>/<date>.parquet`.",
            list(REPORT_ASSETS.values()),
            shard,
        ),
        _spec(
            JOURNAL,
            "A balanced double-entry journal per ledger-day, ready to post: one debit and one "
            "credit per entry type (or per entry), the ledger accounts (funds held at Vipps "
            "MobilePay, fees owed) against the accounts in VIPPS_JOURNAL_ACCOUNTS. "
            "`<data>/journal/<ledger>/<yyyy>/<date>.parquet` and `.csv`.",
            list(REPORT_ASSETS.values()),
            shard,
        ),
        _spec(
            RECONCILIATION,
            "Findings of every accountants' check, one row per ledger, date, topic and check "
            "(`pass`, `fail`, `unknown`, `pending`), in `<data>/reconciliation/`; the same "
            "results appear as asset checks on each partition. A day's findings are recomputed "
            "whenever a neighbouring day they depend on arrives.",
            [STATEMENTS],
            shard,
        ),
    ]


LEDGER_DAY_SPECS = ledger_day_specs()


class LedgerDaysConfig(dg.Config):
    """How a run treats days already stored."""

    sync: bool = False
    """False (UI, schedule, `run`): fetch every requested date again and recompute its files.
    True: skip stored report days and recompute only stale statements and findings."""


def build_ledger_day_assets(shard: Shard = UNSHARDED) -> dg.AssetsDefinition:
    """The ledger-day multi-asset of one shard (the unsharded default keeps the plain keys)."""
    partitions_def = shard_partitions(shard)
    reconciliation, journal = shard.key(RECONCILIATION), shard.key(JOURNAL)

    @dg.multi_asset(
        name=f"{shard.name}__ledger_days" if shard.name else "ledger_days",
        specs=ledger_day_specs(shard),
        check_specs=[
            *(
                dg.AssetCheckSpec(
                    group,
                    asset=reconciliation,
                    description=" ".join(CHECKS[c] for c in checks),
                    partitions_def=partitions_def,
                )
                for group, checks in CHECK_GROUPS.items()
            ),
            dg.AssetCheckSpec(
                JOURNAL_CHECK,
                asset=journal,
                description="Debits equal credits, each ledger account moves as its report "
                "did, and every entry type has an account (unknown types go to suspense: a "
                "warning).",
                partitions_def=partitions_def,
            ),
        ],
        can_subset=True,
        partitions_def=partitions_def,
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
        topics = tuple(t for t in TOPICS if shard.key(REPORT_ASSETS[t]) in selected)
        keys = run_partition_keys(
            context.run.tags, context.partition_keys, context.instance, partitions_def
        )
        days = ledger_days(keys, partitions_def)
        by_ledger: dict[str, list] = {}
        for day in days:
            by_ledger.setdefault(day.ledger_id, []).append(day.ledger_date)
        client = api.get_client() if topics else None
        recorder = Recorder(
            context.op_execution_context,
            settings.data_dir,
            context.selected_asset_check_keys,
            settings.timezone,
            shard,
        )
        works = (
            lr.Work(
                ledger_id,
                tuple(dates),
                topics=topics,
                statements=shard.key(STATEMENTS) in selected,
                findings=reconciliation in selected,
                journal=journal in selected,
                sync=config.sync,
            )
            for ledger_id, dates in by_ledger.items()
        )
        yield from recorder.run(works, client, settings)
        recorder.finish(planned=len(keys))

    return ledger_day_assets


ledger_day_assets = build_ledger_day_assets()
