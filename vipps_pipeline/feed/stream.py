"""The feed: each ledger's continuous stream, read from its persisted cursor until caught up,
stored as provisional Parquet by ledger date.

Files: ``<data>/feed/<topic>/<ledger>/<yyyy>/<date>.parquet`` hold the entries the feed has
delivered for a ledger date (the report columns, ``seq`` being the entry's position in that
date as in the by-date report, plus ``feed_position`` and ``stored_at``). They are provisional:
until the date closes, more entries can arrive, and only the by-date report is final.

The commit record: ``<data>/state/feed/<ledger>/<topic>.json`` holds the cursor and how many
entries of each date are committed. A page is stored in two steps, each atomic (temporary file,
fsync, rename): (1) every date file the page touches is rewritten as its first *committed*
rows plus the page's rows, (2) the record is replaced with the new cursor and counts. A crash
before (2) leaves the old cursor, so the same page is read again, and step (1) then drops the
rows the crashed attempt appended (they lie beyond the committed count) before appending the
page once more. Rows beyond the committed count are never read either. So a crash re-reads at
most one page, never stores an entry twice and never skips one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.api.errors import BadFeed
from vipps_pipeline.api.parse import page_to_batch
from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store.atomic import file_lock, read_json, write_json, write_table
from vipps_pipeline.store.objstore import read_table
from vipps_pipeline.store.paths import (
    feed_lock_path,
    feed_path,
    feed_record_path,
    feed_schedule_path,
)
from vipps_pipeline.store.schemas import FEED_SCHEMA

MAX_EMPTY_PAGES = 100
"""Empty pages in a row with a moving cursor after which a pass stops (the next one goes on)."""


def _time(raw: object) -> datetime | None:
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def _date(raw: object) -> date | None:
    return date.fromisoformat(raw) if isinstance(raw, str) else None


@dataclass
class Record:
    """The commit record of one ledger and topic: where the feed stands, what is stored."""

    ledger_id: str
    topic: str
    cursor: str | None = None
    start_from: date | None = None
    """Entries of earlier ledger dates are read (the feed takes no date) but not stored."""
    dates: dict[date, int] = field(default_factory=dict)
    """Committed entries per ledger date: a date file's first ``dates[d]`` rows are valid."""
    position: int = 0  # entries read from the feed so far, stored or skipped
    stored: int = 0
    skipped: int = 0
    pages: int = 0
    newest_time: datetime | None = None
    newest_date: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ledger_id": self.ledger_id,
            "topic": self.topic,
            "cursor": self.cursor,
            "start_from": self.start_from.isoformat() if self.start_from else None,
            "dates": {d.isoformat(): n for d, n in sorted(self.dates.items())},
            "position": self.position,
            "stored": self.stored,
            "skipped": self.skipped,
            "pages": self.pages,
            "newest_time": self.newest_time.isoformat() if self.newest_time else None,
            "newest_date": self.newest_date.isoformat() if self.newest_date else None,
        }

    @classmethod
    def load(cls, data_dir: Path, ledger_id: str, topic: str) -> Record:
        raw = read_json(feed_record_path(data_dir, ledger_id, topic))
        if not raw:
            return cls(ledger_id, topic)
        return cls(
            ledger_id,
            topic,
            cursor=raw.get("cursor") or None,
            start_from=_date(raw.get("start_from")),
            dates={date.fromisoformat(d): int(n) for d, n in (raw.get("dates") or {}).items()},
            position=int(raw.get("position", 0)),
            stored=int(raw.get("stored", 0)),
            skipped=int(raw.get("skipped", 0)),
            pages=int(raw.get("pages", 0)),
            newest_time=_time(raw.get("newest_time")),
            newest_date=_date(raw.get("newest_date")),
        )

    def save(self, data_dir: Path) -> None:
        """The commit: one atomic replace of the record."""
        write_json(feed_record_path(data_dir, self.ledger_id, self.topic), self.to_json())


@contextlib.contextmanager
def feed_lock(data_dir: Path, ledger_id: str) -> Iterator[None]:
    """One writer per ledger's feed across processes (the sensor's runs, `vipps-pipeline feed`):
    the commit protocol assumes nobody else appends between reading and writing the record."""
    with file_lock(feed_lock_path(data_dir, ledger_id)):
        yield


def read_committed(data_dir: Path, record: Record, ledger_date: date) -> pa.Table | None:
    """The committed rows of one date (None when the date's file is gone: pruned)."""
    path = feed_path(data_dir, record.topic, record.ledger_id, ledger_date)
    committed = record.dates.get(ledger_date, 0)
    try:
        table = read_table(path, schema=FEED_SCHEMA)
    except FileNotFoundError:
        return FEED_SCHEMA.empty_table() if committed == 0 else None
    return table.slice(0, committed)


# --- one page ------------------------------------------------------------------------------
def _ledger_date(entry: object, position: int, where: str) -> date:
    raw = entry.get("ledgerDate") if isinstance(entry, dict) else None
    try:
        if isinstance(raw, str) and len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise BadFeed(
        f"{where}: entry at feed position {position}: field 'ledgerDate' must be a date "
        f"YYYY-MM-DD (the feed spans dates, so an entry without one cannot be placed), got {raw!r}"
    )


def _batches(
    record: Record, items: list, include_gdpr: bool, stored_at: datetime
) -> tuple[dict[date, pa.Table], int]:
    """Validate a whole page before anything is written: (rows per ledger date, skipped)."""
    where = f"feed of ledger {record.ledger_id}, {record.topic}"
    groups: dict[date, list[tuple[int, Any]]] = {}
    skipped = 0
    for i, entry in enumerate(items):
        position = record.position + i
        d = _ledger_date(entry, position, where)
        if record.start_from and d < record.start_from:
            skipped += 1
            continue
        groups.setdefault(d, []).append((position, entry))
    out = {}
    for d, rows in groups.items():
        batch = page_to_batch(
            [e for _, e in rows],
            ledger_id=record.ledger_id,
            topic=record.topic,
            ledger_date=d,
            seq_start=record.dates.get(d, 0),
            include_gdpr=include_gdpr,
        )
        out[d] = pa.Table.from_arrays(
            [
                *batch.columns,
                pa.array([p for p, _ in rows], pa.int64()),
                pa.array([stored_at] * batch.num_rows, FEED_SCHEMA.field("stored_at").type),
            ],
            schema=FEED_SCHEMA,
        )
    return out, skipped


def write_date(data_dir: Path, record: Record, ledger_date: date, rows: pa.Table) -> None:
    """Step (1) for one date: its committed rows, then ``rows``, in one atomic rewrite. Rows a
    crashed attempt appended beyond the committed count are dropped here."""
    path = feed_path(data_dir, record.topic, record.ledger_id, ledger_date)
    kept = read_committed(data_dir, record, ledger_date)
    parts = [t for t in (kept, rows) if t is not None and t.num_rows]
    write_table(path, pa.concat_tables(parts) if parts else rows)


def store_page(
    data_dir: Path, record: Record, items: list, cursor: str, include_gdpr: bool, now: datetime
) -> dict[date, int]:
    """Store one page and commit it with its cursor; returns the rows added per date."""
    tables, skipped = _batches(record, items, include_gdpr, now)
    for d in sorted(tables):
        write_date(data_dir, record, d, tables[d])
    for d, table in tables.items():
        record.dates[d] = record.dates.get(d, 0) + table.num_rows
        newest = pc.max(table["time"]).as_py()
        if newest is not None and (record.newest_time is None or newest > record.newest_time):
            record.newest_time = newest
        if record.newest_date is None or d > record.newest_date:
            record.newest_date = d
    record.position += len(items)
    record.stored += sum(t.num_rows for t in tables.values())
    record.skipped += skipped
    record.pages += 1
    record.cursor = cursor
    record.save(data_dir)  # step (2): the commit
    return {d: t.num_rows for d, t in tables.items()}


# --- a pass --------------------------------------------------------------------------------
@dataclass
class PassResult:
    """What one catch-up pass of one ledger and topic did."""

    ledger_id: str
    topic: str
    started_ns: int = field(default_factory=time.time_ns)
    """Wall clock at the start: a report stored before it closed its date before the pass."""
    requests: int = 0
    pages: int = 0
    added: dict[date, int] = field(default_factory=dict)
    caught_up: bool = False
    record: Record | None = None

    @property
    def entries(self) -> int:
        return sum(self.added.values())


def catch_up(
    client: ReportClient,
    settings: PipelineSettings,
    ledger_id: str,
    topic: str,
    *,
    clock: Callable[[], datetime] | None = None,
    result: PassResult | None = None,
) -> PassResult:
    """Read one ledger's feed of ``topic`` from its persisted cursor until it is caught up.

    Caught up is ``tryLater: true``, or an empty page that leaves the cursor where it was (the
    end of the feed). An empty page that moves the cursor is committed and followed. A pass
    stops after VIPPS_MAX_PAGES pages or MAX_EMPTY_PAGES empty ones without being caught up;
    the next pass goes on from there. Raises what the client raises (nothing of the failed
    page is committed); ``result`` (when given) holds what was stored before the error.
    Call with :func:`feed_lock` held (the protocol assumes one writer per ledger).
    """
    clock = clock or settings.now
    data_dir = settings.data_dir
    result = result or PassResult(ledger_id, topic)
    record = Record.load(data_dir, ledger_id, topic)
    result.record = record
    if record.start_from is None:  # a ledger the feed has not read yet
        record.start_from = settings.feed_start
    empty_in_a_row = 0
    for _ in range(client.settings.max_pages):
        sent = record.cursor
        page = client.feed_page(ledger_id, topic, sent)
        result.requests += 1
        if page.items:
            added = store_page(
                data_dir, record, page.items, page.cursor, client.settings.include_gdpr, clock()
            )
            for d, n in added.items():
                result.added[d] = result.added.get(d, 0) + n
            result.pages += 1
            empty_in_a_row = 0
        elif page.cursor and page.cursor != sent:
            record.cursor = page.cursor  # the cursor moved without data: persist it all the same
            record.save(data_dir)
            empty_in_a_row += 1
        if page.try_later or (not page.items and page.cursor in ("", sent)):
            result.caught_up = True
            break
        if empty_in_a_row >= MAX_EMPTY_PAGES:
            break
    return result


def next_interval(settings: PipelineSettings, previous: int, added: int, caught_up: bool) -> int:
    """Seconds until the next pass: the shortest while entries keep coming, doubling (up to
    VIPPS_FEED_MAX_POLL_SECONDS) for every pass that finds nothing new; 0 when a pass stopped
    before it was caught up (go on at once)."""
    if not caught_up:
        return 0
    if added:
        return settings.feed_poll_seconds
    return min(max(previous, settings.feed_poll_seconds // 2) * 2, settings.feed_max_poll_seconds)


@dataclass
class Schedule:
    """Per ledger: when its feed is read next, and comparisons waiting for the feed."""

    interval: int = 0
    next_poll_at: datetime | None = None
    last_pass_at: datetime | None = None
    caught_up_at: datetime | None = None
    """The last pass that read both topics to the end: "today so far" is complete up to it."""
    behind: dict[date, datetime] = field(default_factory=dict)
    """Closed dates whose feed rows are a strict prefix of the report, since when."""

    @classmethod
    def load(cls, data_dir: Path, ledger_id: str) -> Schedule:
        raw = read_json(feed_schedule_path(data_dir, ledger_id))
        return cls(
            interval=int(raw.get("interval", 0)),
            next_poll_at=_time(raw.get("next_poll_at")),
            last_pass_at=_time(raw.get("last_pass_at")),
            caught_up_at=_time(raw.get("caught_up_at")),
            behind={
                date.fromisoformat(d): datetime.fromisoformat(t)
                for d, t in (raw.get("behind") or {}).items()
            },
        )

    def save(self, data_dir: Path, ledger_id: str) -> None:
        write_json(
            feed_schedule_path(data_dir, ledger_id),
            {
                "interval": self.interval,
                "next_poll_at": self.next_poll_at.isoformat() if self.next_poll_at else None,
                "last_pass_at": self.last_pass_at.isoformat() if self.last_pass_at else None,
                "caught_up_at": self.caught_up_at.isoformat() if self.caught_up_at else None,
                "behind": {d.isoformat(): t.isoformat() for d, t in sorted(self.behind.items())},
            },
        )

    def due(self, now: datetime, slack: timedelta = timedelta(0)) -> bool:
        return self.next_poll_at is None or now + slack >= self.next_poll_at
