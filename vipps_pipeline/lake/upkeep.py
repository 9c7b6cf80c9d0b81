"""Compaction and clean-up: the number of files per table stays bounded however long it runs.

Each sync commit adds a file per ledger and table; compaction (Delta's OPTIMIZE) rewrites each
ledger's small files into one (up to the target size) in one commit, so readers see the table
before or after it, never half-compacted. Vacuum then deletes the files no version within the
retention still needs (``VIPPS_TABLE_RETENTION_DAYS``): time travel reaches that far back and
no further. A checkpoint keeps opening a table quick however many commits it has had.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipps_pipeline.lake.commit import with_retries
from vipps_pipeline.lake.tables import ALL_TABLES, open_table
from vipps_pipeline.store.objstore import DataDir


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
    removed = table.vacuum(
        retention_hours=retention_days * 24, dry_run=False, enforce_retention_duration=False
    )
    table.create_checkpoint()
    table.cleanup_metadata()
    return Upkeep(name, before, len(table.file_uris()), len(removed), table.version())


def compact_all(data_dir: DataDir, retention_days: int) -> list[Upkeep]:
    """Every table that exists, one after the other."""
    done = [compact_table(data_dir, spec.name, retention_days) for spec in ALL_TABLES]
    return [d for d in done if d is not None]
