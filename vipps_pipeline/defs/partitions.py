"""Ledger-day partitions: a daily date dimension times the dynamic set of ledgers."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
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


def shard_of(ledger_id: str, shards: int) -> int:
    """The shard a ledger belongs to: a hash of its id alone, so registering new ledgers never
    moves an existing one (its history stays under one set of asset keys). Changing the number
    of shards does move ledgers; see docs/scale.md."""
    digest = hashlib.sha256(ledger_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


@dataclass(frozen=True)
class Shard:
    """One code location's share of the ledgers (``VIPPS_SHARDS``; 1 = no sharding).

    Each shard has its own asset keys (prefixed ``shard_03/``) and its own dynamic ledger
    partitions (``ledgers_shard_03``), so no asset holds more than its share of partitions.
    The unsharded default keeps the historical names: ``funds_report``, ``ledgers``.
    """

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    @property
    def name(self) -> str | None:
        return f"shard_{self.index:02d}" if self.count > 1 else None

    @property
    def partitions_name(self) -> str:
        return f"ledgers_{self.name}" if self.name else "ledgers"

    def key(self, key: dg.AssetKey) -> dg.AssetKey:
        return key.with_prefix(self.name) if self.name else key

    def tags(self) -> dict[str, str]:
        """Run tags that tell this shard's runs from those of other locations (every location
        has a job called ``vipps_sync``)."""
        return {"vipps/shard": self.name} if self.name else {}

    def owns(self, ledger_id: str) -> bool:
        return self.count == 1 or shard_of(ledger_id, self.count) == self.index


UNSHARDED = Shard()


@functools.cache
def shard_partitions(shard: Shard) -> dg.MultiPartitionsDefinition:
    """A shard's ledger-day partitions; one object per shard so every asset shares it."""
    if shard == UNSHARDED:
        return ledger_day_partitions
    ledgers = dg.DynamicPartitionsDefinition(name=shard.partitions_name)
    return dg.MultiPartitionsDefinition({"date": date_partitions, "ledger": ledgers})


def shard_ledger_partitions(shard: Shard) -> dg.DynamicPartitionsDefinition:
    dim = shard_partitions(shard).get_partitions_def_for_dimension("ledger")
    assert isinstance(dim, dg.DynamicPartitionsDefinition)
    return dim


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


RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
DIMENSION_TAG_PREFIX = "dagster/partition/"


@dataclass(frozen=True, order=True)
class LedgerDayPartition:
    ledger_id: str
    ledger_date: date
    key: str


def partition_key(ledger_id: str, ledger_date: date) -> str:
    """The multi-partition key string (dimensions sorted by name: date, then ledger)."""
    return f"{ledger_date.isoformat()}|{ledger_id}"


def run_partition_keys(
    tags: Mapping[str, str],
    fallback: Callable[[], Sequence[str]],
    instance: dg.DagsterInstance,
    partitions_def: dg.MultiPartitionsDefinition = ledger_day_partitions,
) -> list[str]:
    """The run's ledger-days, from its range tags whenever it has them.

    A backfill from the Jobs page gives each ranged run the range tags AND the per-dimension
    tags of the backfill's first partition; Dagster's ``context.partition_keys`` then reads the
    per-dimension tags and sees one ledger-day. The range is what the run was launched for.
    ``fallback`` (``context.partition_keys``) is read only for runs without a range: a run
    rewrites its dimension tags to what it covers, which a re-execution inherits.
    """
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not (start and end):
        return [str(k) for k in fallback()]
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        return list(partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(start, end)))


def ledger_days(
    keys: Sequence[str], partitions_def: dg.MultiPartitionsDefinition = ledger_day_partitions
) -> list[LedgerDayPartition]:
    """Partition keys as validated, sorted ledger-days."""
    out = []
    for key in keys:
        dims = partitions_def.get_partition_key_from_str(str(key)).keys_by_dimension
        ledger = validate_ledger_id(dims["ledger"], "partition ledger")
        out.append(LedgerDayPartition(ledger, date.fromisoformat(dims["date"]), str(key)))
    return sorted(out)


def chosen_ledgers(
    instance: dg.DagsterInstance, partitions: dg.DynamicPartitionsDefinition, wanted: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The ledgers a sync or feed run works on (``wanted``, or every registered one) and every
    registered ledger. A wanted ledger that is not registered fails the step at once: its files
    would have no partition."""
    registered = sorted(instance.get_dynamic_partitions(partitions.name))
    unknown = sorted(set(wanted) - set(registered))
    if unknown:
        raise dg.Failure(
            f"ledger(s) {', '.join(unknown)} not registered: materialize `ledgers` first "
            f"(registered: {', '.join(registered) or 'none'})",
            allow_retries=False,
        )
    return list(wanted) or registered, registered
