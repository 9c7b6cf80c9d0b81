"""A chunk's derived books: its statements, journal and findings, and those of the neighbours
its changes made stale, computed in one pass under the ledger's lock.

The engine (:mod:`vipps_pipeline.sync.engine`) calls :func:`derive_chunk` at each chunk's end.
The chunk's reports and statements are read from the rows it just wrote
(:class:`~vipps_pipeline.lake.commit.Kept`) while the inventory says the files are unchanged,
so each day's files are written once and read back only for the neighbours of the chunk.
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from vipps_pipeline.books import derive as books
from vipps_pipeline.books import journal
from vipps_pipeline.books.reconcile import CHAIN_LOOKBACK_DAYS
from vipps_pipeline.lake import commit as lake
from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store.atomic import ledger_lock
from vipps_pipeline.store.days import Memory
from vipps_pipeline.sync import completeness
from vipps_pipeline.sync.events import (
    DayFailed,
    Event,
    FindingsStored,
    JournalStored,
    Skipped,
    StatementStored,
)

if TYPE_CHECKING:
    from vipps_pipeline.sync.engine import Work


def derive_chunk(
    work: Work,
    chunk: list[date],
    later: set[date],
    inv: completeness.Inventory | None,
    settings: PipelineSettings,
    kept: lake.Kept,
) -> Generator[Event, None, completeness.Inventory]:
    """Statements and findings of a chunk, and of the neighbours its changes made stale.

    A sync derives from its own inventory (kept current as it writes); explicit work lists the
    ledger under the lock once per chunk, as its dates may have been stored by any run. Returns
    the inventory, with every file written recorded (what the chunk's commit goes by).
    """
    with ledger_lock(settings.data_dir, work.ledger_id):
        if inv is None or not work.sync:
            inv = completeness.scan(settings.data_dir, work.ledger_id, verify=True)
        if work.statements and not (yield from _statements(work, chunk, inv, settings, kept)):
            return inv
        if work.journal:
            yield from _journal(work, chunk, inv, settings, kept)
        if work.findings:
            yield from _findings(work, chunk, later, inv, settings, kept)
    return inv


def _statements(
    work: Work,
    chunk: list[date],
    inv: completeness.Inventory,
    settings: PipelineSettings,
    kept: lake.Kept,
) -> Generator[Event, None, bool]:
    """The chunk's statements: every day with both reports (explicit) or the stale ones.
    Returns False when they failed (nothing after them is derived then)."""
    ledger_id, data_dir = work.ledger_id, settings.data_dir
    ready = [d for d in chunk if inv.reports_stored(d)]
    if not work.sync and len(ready) < len(chunk):
        missing = tuple(d for d in chunk if not inv.reports_stored(d))
        yield Skipped(ledger_id, "statements", missing, "funds or fees report not stored")
    if work.sync:
        stale, _ = completeness.stale_days(inv, settings.fee_window_days)
        in_chunk = set(chunk)
        targets = [d for d in stale if d in in_chunk]
    else:
        targets = ready
    if not targets:
        return True
    override = settings.settlement.get(ledger_id)
    try:
        table = books.write_statements(data_dir, ledger_id, targets, override, _memory(kept, inv))
    except (OSError, ValueError, books.MissingInput) as exc:
        yield DayFailed(ledger_id, "statements", targets[0], str(exc))
        return False
    inv.wrote(data_dir, "statements", targets)
    kept.add_days("statements", table, {d: inv.mtime("statements", d) for d in targets})
    rows: dict[date, list[dict]] = {}
    for row in table.to_pylist():
        rows.setdefault(row["ledger_date"], []).append(row)
    for d in targets:
        yield StatementStored(ledger_id, d, tuple(rows[d]))
    return True


def _findings(
    work: Work,
    chunk: list[date],
    later: set[date],
    inv: completeness.Inventory,
    settings: PipelineSettings,
    kept: lake.Kept,
) -> Iterator[Event]:
    """The chunk's findings, and those of the neighbours its changes made stale."""
    ledger_id, window = work.ledger_id, settings.fee_window_days
    _, stale_findings = completeness.stale_days(inv, window)
    in_chunk = set(chunk)
    stated = [d for d in chunk if inv.has("statements", d)]
    if not work.sync and len(stated) < len(chunk):
        missing = tuple(d for d in chunk if not inv.has("statements", d))
        yield Skipped(ledger_id, "reconciliation", missing, "statement not stored")
    targets = set(stated) if not work.sync else {d for d in stale_findings if d in in_chunk}
    # neighbours whose findings this chunk made stale, unless a later chunk of this run
    # handles them anyway
    lo = chunk[0] - timedelta(days=window - 1)
    hi = chunk[-1] + timedelta(days=max(window - 1, CHAIN_LOOKBACK_DAYS))
    mine = None if work.neighbours else set(work.dates)  # a backfill's run: its own days only
    targets |= {
        d
        for d in stale_findings
        if lo <= d <= hi and d not in in_chunk | later and (mine is None or d in mine)
    }
    # only days whose statement is stored: another run may have written a day's reports
    # a moment ago and not yet its statement (it will reconcile that day itself)
    targets = {d for d in targets if d >= settings.start_date and inv.has("statements", d)}
    if not targets:
        return
    try:
        table = books.write_findings(
            settings.data_dir,
            ledger_id,
            sorted(targets),
            first_date=settings.start_date,
            window=window,
            settlement=settings.settlement.get(ledger_id),
            memory=_memory(kept, inv),
        )
    except (OSError, ValueError, books.MissingInput) as exc:
        yield DayFailed(ledger_id, "reconciliation", min(targets), str(exc))
        return
    inv.wrote(settings.data_dir, "reconciliation", targets)
    kept.add_days("reconciliation", table, {d: inv.mtime("reconciliation", d) for d in targets})
    found: dict[date, list[dict]] = {d: [] for d in targets}
    for row in table.to_pylist():
        found[row["ledger_date"]].append(row)
    for d in sorted(found):
        yield FindingsStored(ledger_id, d, tuple(found[d]))


def _journal(
    work: Work,
    chunk: list[date],
    inv: completeness.Inventory,
    settings: PipelineSettings,
    kept: lake.Kept,
) -> Iterator[Event]:
    """The chunk's journal days: every day with both reports (explicit) or the stale ones."""
    if work.sync:
        stale = set(completeness.stale_journal(inv))
        targets = [d for d in chunk if d in stale]
    else:
        targets = [d for d in chunk if inv.reports_stored(d)]
    if not targets:
        return
    try:
        chart = chart_for(settings)
        booked = books.write_journal(
            settings.data_dir,
            work.ledger_id,
            targets,
            chart,
            settings.journal_per_entry,
            _memory(kept, inv),
        )
    except (OSError, ValueError) as exc:
        yield DayFailed(work.ledger_id, "journal", targets[0], str(exc))
        return
    inv.wrote(settings.data_dir, "journal", targets)
    for d in targets:
        lines, check = booked[d]
        kept.add("journal", d, inv.mtime("journal", d), lines)
        currencies = [c for c in lines.column("currency").to_pylist() if c]
        yield JournalStored(
            work.ledger_id,
            d,
            lines.num_rows,
            int(pc.sum(lines.column("debit")).as_py() or 0),
            currencies[0] if currencies else None,
            check,
        )


def _memory(kept: lake.Kept, inv: completeness.Inventory) -> Memory:
    """The chunk's files as it wrote them, while the inventory says they are unchanged."""
    return lambda kind, d: kept.take(kind, d, inv.mtime(kind, d))


def chart_for(settings: PipelineSettings) -> journal.Chart:
    """The chart of accounts, read once per file version."""
    path = settings.journal_accounts
    stamp = path.stat().st_mtime_ns if path and path.exists() else 0
    return _chart(str(path) if path else None, stamp)


@functools.lru_cache(maxsize=4)
def _chart(path: str | None, stamp: int) -> journal.Chart:
    return journal.load_chart(path)
