"""The ledger-day datasets: the reports, statements, journal and findings of each ledger-day.

The four are one multi-asset, computed in one step: the step stores what
the API has final, and reports a materialization for exactly the partitions whose files it
wrote. A ranged run never returns a result that would stand for its whole range, so a day that
is not ready, or failed, stays missing in the UI as it is on disk.
"""

from collections.abc import Iterator

import dagster as dg

from vipps_pipeline.books.reconcile import CHECK_GROUPS, CHECKS
from vipps_pipeline.defs.keys import (
    API_POOL,
    JOURNAL_CHECK,
    JOURNAL_KEY,
    RECONCILIATION_KEY,
    REPORT_ASSETS,
    STATEMENTS_KEY,
)
from vipps_pipeline.defs.partitions import (
    BACKFILL_POLICY,
    UNSHARDED,
    LedgerDayPartition,
    Shard,
    ledger_days,
    run_partition_keys,
    shard_partitions,
)
from vipps_pipeline.defs.recording import Recorded, Recorder
from vipps_pipeline.defs.recording.ownership import coverage_tags, is_backfill, outcome_tags
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.settings import TOPICS
from vipps_pipeline.sync import engine as lr


def _ledger_day_spec(
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
            _ledger_day_spec(
                REPORT_ASSETS[topic],
                f"The final by-date `{topic}` report of one ledger-day, every entry once, in "
                f"report order, as `<data>/reports/{topic}/<ledger>/<yyyy>/<date>.parquet`. A "
                "day that is not final yet (HTTP 404 or `tryLater`) is not stored and stays "
                "missing.",
                [],  # not the ledger list: its daily refresh would mark every day "Unsynced"
                shard,
            )
            for topic in TOPICS
        ),
        _ledger_day_spec(
            STATEMENTS_KEY,
            "Per ledger-day and topic: opening and closing balance, sum of amounts, counts and "
            "totals by entry type, payout amount, reference and reserve kept, settlement type. "
            "`<data>/statements/<ledger>/<yyyy>/<date>.parquet`.",
            list(REPORT_ASSETS.values()),
            shard,
        ),
        _ledger_day_spec(
            JOURNAL_KEY,
            "A balanced double-entry journal per ledger-day, ready to post: one debit and one "
            "credit per entry type (or per entry), the ledger accounts (funds held at Vipps "
            "MobilePay, fees owed) against the accounts in VIPPS_JOURNAL_ACCOUNTS. "
            "`<data>/journal/<ledger>/<yyyy>/<date>.parquet` and `.csv`.",
            list(REPORT_ASSETS.values()),
            shard,
        ),
        _ledger_day_spec(
            RECONCILIATION_KEY,
            "Findings of every accountants' check, one row per ledger, date, topic and check "
            "(`pass`, `fail`, `unknown`, `pending`), in `<data>/reconciliation/`; the same "
            "results appear as asset checks on each partition. A day's findings are recomputed "
            "whenever a neighbouring day they depend on arrives.",
            [STATEMENTS_KEY],
            shard,
        ),
    ]


LEDGER_DAY_SPECS = ledger_day_specs()


class LedgerDaysConfig(dg.Config):
    """How a run treats days already stored."""

    sync: bool = False
    """False (UI, schedule, `run`): fetch every requested date again and recompute its files.
    True: skip stored report days and recompute only stale statements and findings."""


def ledger_day_check_specs(shard: Shard = UNSHARDED) -> list[dg.AssetCheckSpec]:
    """A check per reconciliation check group, and the journal's balance check."""
    partitions_def = shard_partitions(shard)
    return [
        *(
            dg.AssetCheckSpec(
                group,
                asset=shard.key(RECONCILIATION_KEY),
                description=" ".join(CHECKS[c] for c in checks),
                partitions_def=partitions_def,
            )
            for group, checks in CHECK_GROUPS.items()
        ),
        dg.AssetCheckSpec(
            JOURNAL_CHECK,
            asset=shard.key(JOURNAL_KEY),
            description="Debits equal credits, each ledger account moves as its report "
            "did, and every entry type has an account (unknown types go to suspense: a "
            "warning).",
            partitions_def=partitions_def,
        ),
    ]


def _run_days(
    context: dg.AssetExecutionContext, partitions_def: dg.MultiPartitionsDefinition
) -> tuple[list[str], list[LedgerDayPartition]]:
    """The run's partition keys and ledger-days; its dimension tags are rewritten to what it
    covers, so the runs list names the right days."""
    tags = context.run.tags
    keys = run_partition_keys(
        tags, lambda: context.partition_keys, context.instance, partitions_def
    )
    days = ledger_days(keys, partitions_def)
    if covers := coverage_tags(tags, days):
        context.instance.add_run_tags(context.run.run_id, covers)
    return keys, days


def _tag_outcome(context: dg.AssetExecutionContext, recorder: Recorder, days: list) -> None:
    """What a backfill page counts as this run's: stored, or not ready (only when nothing
    failed: a failed run's days are neither)."""
    if recorder.outage is None and not recorder.summary.failures:
        outcome = outcome_tags(days, recorder.summary.first_open)
        context.instance.add_run_tags(context.run.run_id, outcome)


def build_ledger_day_assets(shard: Shard = UNSHARDED) -> dg.AssetsDefinition:
    """The ledger-day multi-asset of one shard (the unsharded default keeps the plain keys)."""
    partitions_def = shard_partitions(shard)
    reconciliation, journal = shard.key(RECONCILIATION_KEY), shard.key(JOURNAL_KEY)

    @dg.multi_asset(
        name=f"{shard.name}__ledger_days" if shard.name else "ledger_days",
        specs=ledger_day_specs(shard),
        check_specs=ledger_day_check_specs(shard),
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
    ) -> Iterator[Recorded]:
        settings = pipeline.settings()
        selected = context.selected_asset_keys
        topics = tuple(t for t in TOPICS if shard.key(REPORT_ASSETS[t]) in selected)
        keys, days = _run_days(context, partitions_def)
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
            settings.poll_minute,
        )
        works = (
            lr.Work(
                ledger_id,
                tuple(dates),
                topics=topics,
                statements=shard.key(STATEMENTS_KEY) in selected,
                findings=reconciliation in selected,
                journal=journal in selected,
                sync=config.sync,
                neighbours=not is_backfill(context.run.tags),
            )
            for ledger_id, dates in by_ledger.items()
        )
        yield from recorder.run(works, client, settings)
        if topics:
            _tag_outcome(context, recorder, days)
        recorder.finish(planned=len(keys))

    return ledger_day_assets


ledger_day_assets = build_ledger_day_assets()
