"""One ledger's work over a set of dates, without Dagster.

Reports are fetched in date order per topic, and a topic stops at its first date that is not
final (the vendor closes a ledger's dates in order, so later dates cannot be ready either:
while a ledger is open a run costs one request per topic). Statements and findings follow in
chunks of :data:`CHUNK_DAYS`, so memory does not grow with the length of the range; every
stored file is announced as an event the moment it is written, so a killed run keeps what it
recorded. The Dagster layer turns the events into materializations and check evaluations; the
tests read them directly.

Two modes:
- explicit (a user asked for these dates): every date is fetched again and every derived file
  of the dates is recomputed;
- sync (the planner asked): stored report days are skipped and only stale derived files are
  recomputed.
In both, the findings of neighbouring days that a change makes stale (the next day's balance
chain, the fee window either side) are recomputed too, under the ledger's lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.api.errors import ApiError, AuthError, BadReport, LedgerForbidden, NotReady
from vipps_pipeline.lake import commit as lake
from vipps_pipeline.settings import TOPICS, PipelineSettings
from vipps_pipeline.store import state
from vipps_pipeline.sync import commits, completeness, derived, index
from vipps_pipeline.sync.ahead import Lookahead
from vipps_pipeline.sync.derived import chart_for
from vipps_pipeline.sync.events import (
    ChunkDone,
    DayFailed,
    Event,
    FindingsStored,
    JournalStored,
    NotReadyFound,
    ReportStored,
    Skipped,
    StatementStored,
    events_for_files,
)
from vipps_pipeline.sync.ingest import Held, fetch_day

__all__ = [  # the events are re-exported: callers read the engine and its events as one
    "CHUNK_DAYS",
    "Breaker",
    "ChunkDone",
    "DayFailed",
    "Event",
    "FindingsStored",
    "JournalStored",
    "NotReadyFound",
    "Outage",
    "ReportStored",
    "Skipped",
    "StatementStored",
    "Work",
    "chart_for",
    "events_for_files",
    "run_ledger",
]

CHUNK_DAYS = 31
"""Days per chunk of statements and findings: a month keeps memory flat for any range."""


@dataclass(frozen=True)
class Work:
    """What to do for one ledger: which dates, which datasets, and in which mode."""

    ledger_id: str
    dates: tuple[date, ...]
    topics: tuple[str, ...] = TOPICS
    statements: bool = True
    findings: bool = True
    journal: bool = True
    sync: bool = False
    neighbours: bool = True
    """False (a backfill's run): findings of these dates only; the neighbours they make stale
    are left to the sync sensor's next derive run (within a minute), so that an asset-graph
    backfill counts only the days it was asked for."""
    inventory: completeness.Inventory | None = field(default=None, compare=False, repr=False)
    """Sync mode: what is stored, as the planner listed it. The engine skips and derives from
    it and records every file it writes into it, so the caller holds the ledger's current
    inventory afterwards without listing again; None: the engine lists the ledger itself."""


class Outage(Exception):
    """Stop every ledger of the run: credentials rejected, or the API keeps failing."""


@dataclass
class Breaker:
    """Counts ledger-days that failed in a row for transport reasons (no answer, 429, 5xx),
    across ledgers: an outage stops the run after ``limit`` of them instead of spending the
    retry budget on every remaining day."""

    limit: int
    in_a_row: int = 0
    last: list[str] = field(default_factory=list)

    def success(self) -> None:
        self.in_a_row, self.last = 0, []

    def failure(self, message: str) -> None:
        self.in_a_row += 1
        self.last = [*self.last, message][-3:]
        if self.in_a_row >= self.limit:
            raise Outage(
                f"{self.in_a_row} ledger-days failed in a row (VIPPS_MAX_CONSECUTIVE_ERRORS): "
                f"the API looks unavailable; stopping. Last: {self.last[-1]}"
            )


# --- the work ----------------------------------------------------------------------------------
def _chunks(dates: Sequence[date]) -> list[list[date]]:
    """Consecutive runs of at most CHUNK_DAYS dates; a gap starts a new chunk."""
    out: list[list[date]] = []
    for d in sorted(dates):
        if out and len(out[-1]) < CHUNK_DAYS and (d - out[-1][-1]).days <= 1:
            out[-1].append(d)
        else:
            out.append([d])
    return out


def run_ledger(
    work: Work,
    *,
    client: ReportClient | None,
    settings: PipelineSettings,
    breaker: Breaker,
    now: datetime | None = None,
) -> Iterator[Event]:
    """Do ``work`` and announce everything stored, found open or failed, in order.

    Raises :class:`Outage` (after announcing what was stored) when the run must stop. The
    run's marker (:mod:`vipps_pipeline.sync.index`) goes only when every derived file and
    commit succeeded (a report that failed wrote nothing)."""
    marker = index.Marker(settings.data_dir, work.ledger_id)
    clean = True
    now = now or settings.now()  # VIPPS_NOW: a 404's first sighting on the pinned clock
    for event in _walk(work, client, settings, breaker, now, marker):
        clean = clean and not (isinstance(event, DayFailed) and event.what not in TOPICS)
        yield event
    if clean:
        marker.done()


@dataclass
class _Walk:
    """One ledger's walk in progress: what its chunks share."""

    work: Work
    client: ReportClient | None
    settings: PipelineSettings
    breaker: Breaker
    now: datetime
    marker: index.Marker
    inv: completeness.Inventory | None
    ahead: Lookahead
    stopped: dict[str, NotReady | None] = field(default_factory=dict)  # topic -> why it ended
    stored: dict[str, set[date]] = field(default_factory=dict)  # topic -> days stored
    kept: lake.Kept = field(default_factory=lake.Kept)  # what the chunk wrote, for its commit


def _walk(
    work: Work,
    client: ReportClient | None,
    settings: PipelineSettings,
    breaker: Breaker,
    now: datetime,
    marker: index.Marker,
) -> Iterator[Event]:
    """The reports of each chunk's dates in order, then the chunk's derived files and commit."""
    inv = work.inventory
    if work.sync and inv is None:
        inv = completeness.scan(settings.data_dir, work.ledger_id, verify=True)
    chunks = _chunks(work.dates)
    ahead = _lookahead(work, client, inv, settings)
    walk = _Walk(work, client, settings, breaker, now, marker, inv, ahead)
    with contextlib.closing(ahead):
        for number, chunk in enumerate(chunks):
            yield from _fetch_chunk(walk, chunk)
            marker.touch()
            yield from _finish_chunk(work, chunks, number, inv, settings, walk.kept)
    if any(walk.stored.values()):
        state.clear_probes(settings.data_dir, work.ledger_id, walk.stored)


def _lookahead(
    work: Work,
    client: ReportClient | None,
    inv: completeness.Inventory | None,
    settings: PipelineSettings,
) -> Lookahead:
    """The walks of the reports to fetch, in the order :func:`_fetch_chunk` takes them."""

    def order() -> Iterator[tuple[date, str]]:
        for d in sorted(work.dates):
            for topic in work.topics:
                if inv is None or not inv.has(f"reports/{topic}", d):
                    yield d, topic

    return Lookahead(client, work.ledger_id, order())


def _fetch_chunk(walk: _Walk, chunk: list[date]) -> Iterator[Event]:
    """The reports of a chunk's dates in order, each topic until its first day not final."""
    work, stopped, inv = walk.work, walk.stopped, walk.inv
    ledger_id, data_dir, breaker = work.ledger_id, walk.settings.data_dir, walk.breaker
    for d in chunk:
        walk.marker.touch()
        for topic in work.topics:
            if topic in stopped or (inv is not None and inv.has(f"reports/{topic}", d)):
                continue
            held = Held()
            try:
                ahead = walk.ahead.take(d, topic)
                summary = fetch_day(walk.client, data_dir, ledger_id, topic, d, held, ahead)
            except NotReady as exc:
                stopped[topic] = exc
                walk.ahead.stop(topic)
                probe = state.record_probe(
                    data_dir, ledger_id, topic, d, exc.reason, exc.detail, walk.now
                )
                later = sum(1 for x in work.dates if x > d)
                yield NotReadyFound(ledger_id, probe, later)
                breaker.success()
            except AuthError as exc:
                yield DayFailed(ledger_id, topic, d, str(exc))
                raise Outage(f"authentication failed, stopping: {exc}") from None
            except LedgerForbidden as exc:
                for t in work.topics:
                    stopped.setdefault(t, None)
                    walk.ahead.stop(t)
                yield DayFailed(ledger_id, topic, d, str(exc))
            except BadReport as exc:
                yield DayFailed(ledger_id, topic, d, str(exc))
            except ApiError as exc:
                yield DayFailed(ledger_id, topic, d, str(exc))
                if exc.transport:
                    breaker.failure(str(exc))
            else:
                walk.ahead.stored(d, topic)
                breaker.success()
                walk.stored.setdefault(topic, set()).add(d)
                commits.took(inv, walk.kept, f"reports/{topic}", d, summary.path, held)
                yield ReportStored(ledger_id, topic, d, summary)


def _finish_chunk(
    work: Work,
    chunks: list[list[date]],
    number: int,
    inv: completeness.Inventory | None,
    settings: PipelineSettings,
    kept: lake.Kept,
) -> Iterator[Event]:
    """A chunk's derived files, then its commit (from the rows it kept, dropped after)."""
    chunk, listed = chunks[number], inv
    if work.statements or work.findings or work.journal:
        later = {d for c in chunks[number + 1 :] for d in c}
        listed = yield from derived.derive_chunk(work, chunk, later, inv, settings, kept)
    yield from commits.chunk_end(work, chunk[0], listed, settings, kept)
    kept.clear()
