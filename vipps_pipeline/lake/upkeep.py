"""Compaction and clean-up: the number of files per table stays bounded however long it runs.

Each sync commit adds a file per ledger and table; compaction (Delta's OPTIMIZE) rewrites each
ledger's small files into one (up to the target size) in one commit, so readers see the table
before or after it, never half-compacted. Vacuum then deletes the files no version within the
retention still needs (``VIPPS_TABLE_RETENTION_DAYS``): time travel reaches that far back and
no further; the files no commit mentions at all (written by a sync or a compaction killed
before its log entry) go once they are as old as that (and at least a day old). A checkpoint
keeps opening a table quick however many commits it has had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vipps_pipeline.lake.commit import with_retries
from vipps_pipeline.lake.tables import ALL_TABLES, open_table
from vipps_pipeline.store.objstore import DataDir

if TYPE_CHECKING:
    from deltalake import DeltaTable

ORPHAN_HOURS = 24
"""Files that no commit mentions are deleted once older than the retention and at least this
old: a writer killed before its log entry leaves its data files behind (Delta's default "lite"
vacuum never deletes them), and a writer still at work has files its commit will mention a
moment later. (delta-rs's "full" vacuum has one threshold for both kinds of file.)"""


@dataclass(frozen=True)
class Upkeep:
    """What compacting and vacuuming one table did."""

    table: str
    files_before: int
    files_after: int
    removed: int  # files vacuum deleted
    version: int


def compact_table(data_dir: DataDir, name: str, retention_days: int) -> Upkeep | None:
    """Compact, vacuum and checkpoint one table (None when it does not exist yet)."""
    table = open_table(data_dir, name)
    if table is None:
        return None
    before = len(table.file_uris())

    def compact() -> None:
        fresh = open_table(data_dir, name)
        assert fresh is not None
        fresh.optimize.compact()

    with_retries(compact)
    table = open_table(data_dir, name)
    assert table is not None
    hours = retention_days * 24
    removed = vacuum(table, hours, full=hours >= ORPHAN_HOURS)
    if hours < ORPHAN_HOURS:
        removed += vacuum(table, ORPHAN_HOURS, full=True)
    table.create_checkpoint()
    table.cleanup_metadata()
    return Upkeep(name, before, len(table.file_uris()), len(removed), table.version())


def vacuum(table: DeltaTable, hours: int, full: bool) -> list[str]:
    """Delete the files no version of the last ``hours`` needs; ``full``: also those no commit
    mentions (one listing of the table's files)."""
    return table.vacuum(
        retention_hours=hours, dry_run=False, enforce_retention_duration=False, full=full
    )


def compact_all(data_dir: DataDir, retention_days: int) -> list[Upkeep]:
    """Every table that exists, one after the other."""
    done = [compact_table(data_dir, spec.name, retention_days) for spec in ALL_TABLES]
    return [d for d in done if d is not None]
