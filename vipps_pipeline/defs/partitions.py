"""Ledger-day partitions: a daily date dimension times the dynamic set of ledgers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

import dagster as dg

from vipps_pipeline.settings import PipelineSettings, validate_ledger_id

SETTINGS = PipelineSettings.from_env(os.environ)
"""Read once when the code location loads: partitions and schedules depend on it."""

ledger_partitions = dg.DynamicPartitionsDefinition(name="ledgers")
date_partitions = dg.DailyPartitionsDefinition(
    start_date=SETTINGS.start_date.isoformat(), timezone=SETTINGS.timezone, end_offset=0
)
ledger_day_partitions = dg.MultiPartitionsDefinition(
    {"date": date_partitions, "ledger": ledger_partitions}
)

BACKFILL_POLICY = dg.BackfillPolicy.single_run()
"""Shared by every ledger-day asset so a backfill is one ranged run per ledger, not one run per
ledger-day (assets write their own files, so ranged runs need no IO manager)."""


def previous_day_mapping() -> dg.MultiPartitionMapping:
    """Day D depends on days D-1 and D of the same ledger (never a self-dependency)."""
    return window_mapping(-1, 0)


def window_mapping(start_offset: int, end_offset: int) -> dg.MultiPartitionMapping:
    return dg.MultiPartitionMapping(
        {
            "date": dg.DimensionPartitionMapping(
                "date",
                dg.TimeWindowPartitionMapping(
                    start_offset=start_offset,
                    end_offset=end_offset,
                    allow_nonexistent_upstream_partitions=True,
                ),
            ),
            "ledger": dg.DimensionPartitionMapping("ledger", dg.IdentityPartitionMapping()),
        }
    )


@dataclass(frozen=True, order=True)
class LedgerDay:
    ledger_id: str
    ledger_date: date
    key: str


def ledger_days(context: dg.AssetExecutionContext) -> list[LedgerDay]:
    """The run's ledger-days, for a single partition and a ranged backfill run alike."""
    out = []
    for key in context.partition_keys:
        dims = ledger_day_partitions.get_partition_key_from_str(str(key)).keys_by_dimension
        ledger = validate_ledger_id(dims["ledger"], "partition ledger")
        out.append(LedgerDay(ledger, date.fromisoformat(dims["date"]), str(key)))
    return sorted(out)
