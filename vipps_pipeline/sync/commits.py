"""The engine's side of the table commits: what a chunk wrote goes to the tables at its end.

A report file just written is recorded in the sync's inventory and its rows are kept for the
chunk (:class:`vipps_pipeline.lake.commit.Kept`); at the chunk's end one commit per table takes
them from memory (see docs/tables.md, "How they are written").
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from vipps_pipeline.lake import commit as lake
from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store.atomic import ledger_lock
from vipps_pipeline.store.schemas import REPORT_SCHEMA
from vipps_pipeline.sync import completeness
from vipps_pipeline.sync.events import ChunkDone, DayFailed, Event
from vipps_pipeline.sync.ingest import Held

if TYPE_CHECKING:
    from vipps_pipeline.sync.engine import Work


def took(
    inv: completeness.Inventory | None,
    kept: lake.Kept,
    kind: str,
    d: date,
    path: Path,
    held: Held,
) -> None:
    """A report file just written: into the sync's inventory, and its rows (when held) kept
    for the chunk's commit (with the modification time the inventory lists)."""
    mtime = completeness.mtime_ns(path)
    if inv is not None:
        inv.record(kind, d, mtime)
    if held.whole:
        kept.add(
            kind, d, mtime, held.table if held.table is not None else REPORT_SCHEMA.empty_table()
        )


def chunk_end(
    work: Work,
    first: date,
    inv: completeness.Inventory | None,
    settings: PipelineSettings,
    kept: lake.Kept,
) -> Iterator[Event]:
    """Commit the chunk's days, and any earlier day a killed run stored but did not commit,
    into the tables (one commit per table, see :mod:`vipps_pipeline.lake.commit`), taking the
    rows the chunk wrote from memory; then say the chunk is done.

    The inventory is the sync's own, or the one the chunk's derived files were written by
    (listed under the lock after the chunk's reports were stored); only a chunk without
    derived files lists the ledger again. A file another run rewrote since is committed by that
    run, or found changed by the next commit: never lost, never doubled."""
    try:
        with ledger_lock(settings.data_dir, work.ledger_id):
            if inv is None:
                inv = completeness.scan(settings.data_dir, work.ledger_id, verify=True)
            lake.commit_ledger(settings.data_dir, work.ledger_id, inv.files, kept)
    except (OSError, lake.TableError) as exc:
        yield DayFailed(work.ledger_id, "tables", first, f"tables not updated: {exc}")
    yield ChunkDone(work.ledger_id)
