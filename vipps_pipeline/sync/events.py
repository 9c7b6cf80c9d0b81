"""What the ledger engine announces: one event per file stored, day found open or failed.

The engine (:mod:`vipps_pipeline.sync.engine`) yields these in order as it goes; the Dagster
layer turns them into materializations and check evaluations, the tests read them directly.
Kept apart from the engine so that a reader of either sees one idea.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow.compute as pc

from vipps_pipeline.books.journal import DayCheck
from vipps_pipeline.store import objstore, state
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.paths import day_path
from vipps_pipeline.sync.ingest import DaySummary


@dataclass(frozen=True)
class ReportStored:
    ledger_id: str
    topic: str
    ledger_date: date
    summary: DaySummary


@dataclass(frozen=True)
class NotReadyFound:
    """A topic's walk stopped: the API says this date is not final yet."""

    ledger_id: str
    probe: state.Probe
    not_asked: int  # later dates of this run the walk did not ask for


@dataclass(frozen=True)
class StatementStored:
    ledger_id: str
    ledger_date: date
    rows: tuple[dict, ...]  # one per topic


@dataclass(frozen=True)
class JournalStored:
    ledger_id: str
    ledger_date: date
    lines: int
    debit: int  # the day's total of debits (= credits) in minor units
    currency: str | None
    check: DayCheck  # its errors (none when it balances and ties) and suspense bookings


@dataclass(frozen=True)
class FindingsStored:
    ledger_id: str
    ledger_date: date
    findings: tuple[dict, ...]


@dataclass(frozen=True)
class DayFailed:
    ledger_id: str
    what: str  # a topic, "statements" or "reconciliation"
    ledger_date: date | None
    message: str


@dataclass(frozen=True)
class Skipped:
    """Derived files not computed because their inputs are not stored (not an error)."""

    ledger_id: str
    what: str
    dates: tuple[date, ...]
    reason: str


@dataclass(frozen=True)
class ChunkDone:
    """A point where everything announced so far is written: a good moment to flush."""

    ledger_id: str


Event = (
    ReportStored
    | NotReadyFound
    | StatementStored
    | JournalStored
    | FindingsStored
    | DayFailed
    | Skipped
    | ChunkDone
)


def events_for_files(
    data_dir: DataDir, ledger_id: str, kind: str, dates: Sequence[date]
) -> Iterator[Event]:
    """Announce files already on disk (a run killed between writing a file and recording it
    leaves such files): the events a run would have emitted for them."""
    for d in sorted(dates):
        path = day_path(data_dir, kind, ledger_id, d)
        try:
            table = objstore.read_table(path)
        except FileNotFoundError:
            continue
        if kind.startswith("reports/"):
            topic = kind.split("/", 1)[1]
            summary = DaySummary(ledger_id, topic, d, path)
            for batch in table.to_batches():
                summary.add(batch)
            yield ReportStored(ledger_id, topic, d, summary)
        elif kind == "statements":
            yield StatementStored(ledger_id, d, tuple(table.to_pylist()))
        elif kind == "journal":
            debit = int(pc.sum(table.column("debit")).as_py() or 0)
            credit = int(pc.sum(table.column("credit")).as_py() or 0)
            currencies = [c for c in table.column("currency").to_pylist() if c]
            # no reports or chart at hand here: what a file alone can show is its balance
            unequal = () if debit == credit else (f"debits {debit} != credits {credit}",)
            yield JournalStored(
                ledger_id,
                d,
                table.num_rows,
                debit,
                currencies[0] if currencies else None,
                DayCheck(unequal),
            )
        else:
            yield FindingsStored(ledger_id, d, tuple(table.to_pylist()))
    yield ChunkDone(ledger_id)
