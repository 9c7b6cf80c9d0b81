"""Keep each table equal to its landing files: one commit per ledger, table and month chunk.

What a table holds of a ledger is written down after each commit, in
``<data>/tables/_committed/<ledger>.json``: per landing kind, every ledger-day's file
modification time as committed. A commit is due for every day whose landing file is new,
changed or gone since; its rows are read from the landing files and replace the day's rows in
one atomic Delta commit (a predicate overwrite), so re-fetching a day never doubles it.

A run that has just written a day's files hands their rows over (:class:`Kept`, with each file's
modification time as written): a commit takes those from memory instead of reading the files
back, as long as the inventory lists that same modification time.

The record is written only after the commit, so a process killed between writing a day's files
and committing them (or during a commit) leaves the day recorded as not committed, and the next
call commits it again: the result is the same whether the earlier commit landed or not.
Commits of different ledgers to one table at the same moment are retried when Delta's
optimistic concurrency rejects one, so none is lost.
"""

from __future__ import annotations

import bisect
import os
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import DeltaError as TableError

from vipps_pipeline.lake.large import replace_large
from vipps_pipeline.lake.tables import (
    DAY_TABLES,
    LEDGERS_TABLE,
    TABLES_FOLDER,
    TableSpec,
    open_table,
    storage_options,
    table_uri,
)
from vipps_pipeline.settings import validate_ledger_id
from vipps_pipeline.store.atomic import ledger_lock, read_json, write_json
from vipps_pipeline.store.days import stored_files
from vipps_pipeline.store.objstore import DataDir, as_dir, info_mtime_ns, is_remote, read_table
from vipps_pipeline.store.paths import ledgers_path

if TYPE_CHECKING:
    import pyarrow.dataset as ds

COMMITTED = "_committed"
LIST_RECORD = "_ledgers_committed.json"
"""The ledger list's record, beside the ledgers' folder (a ledger id may be any name)."""
COMMIT_DAYS = 64
"""Most ledger-days per commit: a chunk's month and the neighbours it made stale go in one
commit; a ledger's first catch-up over years of stored days goes in two-month commits."""
RETRIES = 12
"""Attempts at a commit that loses a race with another writer (each with a fresh read)."""

Committed = dict[str, dict[str, int]]
"""Landing kind -> ISO date -> the file's modification time (ns) as committed."""


class Kept:
    """Rows a run has just written to landing files, per kind and day, each with the file's
    modification time as written: what the chunk's commit would otherwise read back. Held for
    one chunk (a month of one ledger), the rows the commit reads anyway."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, date], tuple[int, pa.Table]] = {}

    def add(self, kind: str, d: date, mtime_ns: int | None, rows: pa.Table) -> None:
        if mtime_ns is not None:
            self._rows[(kind, d)] = (mtime_ns, rows)

    def add_days(self, kind: str, rows: pa.Table, mtimes: Mapping[date, int | None]) -> None:
        """A table holding several days' rows (a ``ledger_date`` column), split by day (sorted
        once and sliced: no copy per day)."""
        rows = rows.take(pc.sort_indices(rows["ledger_date"]))
        dates = rows["ledger_date"].to_pylist()
        for d, m in mtimes.items():
            start = bisect.bisect_left(dates, d)
            self.add(kind, d, m, rows.slice(start, bisect.bisect_right(dates, d) - start))

    def take(self, kind: str, d: date, mtime_ns: int | None) -> pa.Table | None:
        """The rows of the file as it is now (``mtime_ns``), or None when not kept or since
        changed."""
        kept = self._rows.get((kind, d))
        return kept[1] if kept is not None and kept[0] == mtime_ns else None

    def clear(self) -> None:
        self._rows.clear()


def committed_path(data_dir: DataDir, ledger_id: str) -> DataDir:
    return as_dir(data_dir) / TABLES_FOLDER / COMMITTED / f"{validate_ledger_id(ledger_id)}.json"


def committed(data_dir: DataDir, ledger_id: str) -> Committed:
    """What the tables hold of a ledger (empty when nothing was committed: all is due)."""
    raw = read_json(committed_path(data_dir, ledger_id), heal=True)
    return {k: v for k, v in raw.items() if isinstance(v, dict)}


def due_days(files: dict[str, dict[date, int]], done: Committed, spec: TableSpec) -> list[date]:
    """The days of ``spec``'s table whose landing files differ from what it holds."""
    due: set[date] = set()
    for kind in spec.kinds:
        now = {d.isoformat(): m for d, m in files.get(kind, {}).items()}
        before = done.get(kind, {})
        changed = {d for d in now.keys() | before.keys() if now.get(d) != before.get(d)}
        due |= {date.fromisoformat(d) for d in changed}
    return sorted(due)


def commit_ledger(
    data_dir: DataDir,
    ledger_id: str,
    files: dict[str, dict[date, int]],
    kept: Kept | None = None,
) -> dict[str, int]:
    """Commit every day of the ledger whose landing files changed since the last commit.

    ``files`` is the ledger's inventory (kind -> date -> mtime); a kind missing from it was
    not listed and is left alone. ``kept``: rows just written, used instead of reading their
    files. Call with the ledger's lock held. Returns the number of days committed per table
    (nothing when the tables are current: no table is even opened).
    """
    done = committed(data_dir, ledger_id)
    counts: dict[str, int] = {}
    for spec in DAY_TABLES:
        if not all(kind in files for kind in spec.kinds):
            continue
        days = due_days(files, done, spec)
        if not days:
            continue
        for start in range(0, len(days), COMMIT_DAYS):
            batch = days[start : start + COMMIT_DAYS]
            replace_days(
                data_dir,
                spec,
                ledger_id,
                batch,
                day_rows(data_dir, spec, ledger_id, batch, files, kept),
            )
        for kind in spec.kinds:
            done[kind] = {d.isoformat(): m for d, m in files[kind].items()}
        write_json(committed_path(data_dir, ledger_id), done)
        counts[spec.name] = len(days)
    return counts


def day_predicate(ledger_id: str, days: Iterable[date]) -> str:
    """The rows of ``days`` of one ledger (the id is validated, dates are ISO: no quoting)."""
    listed = ", ".join(f"'{d.isoformat()}'" for d in days)
    return f"ledger_id = '{validate_ledger_id(ledger_id)}' AND ledger_date IN ({listed})"


STREAM_ROWS = 100_000
"""A commit of more rows than this is written by pyarrow one row group at a time and added to
the table in one transaction (:mod:`.large`), not handed to Delta's writer, which holds what it
is given (B1b's 1,000,000-entry day: about 45 MB against 370 MB over the process's own)."""


@dataclass(frozen=True)
class DayRows:
    """The rows of one commit: tables already in memory and stored files still to read, every
    kind of the table in order. A commit that loses a race writes them again, so the files are
    read once per attempt, never kept."""

    schema: pa.Schema
    parts: tuple[pa.Table | ds.Dataset, ...]
    num_rows: int

    def table(self) -> pa.Table:
        tables = [p if isinstance(p, pa.Table) else p.to_table() for p in self.parts]
        return pa.concat_tables(tables) if tables else self.schema.empty_table()


def day_rows(
    data_dir: DataDir,
    spec: TableSpec,
    ledger_id: str,
    days: Sequence[date],
    files: Mapping[str, Mapping[date, int]] | None = None,
    kept: Kept | None = None,
) -> DayRows:
    """The landing files' rows of ``days``, every kind of the table (topics in order): from
    ``kept`` for a file the inventory ``files`` lists as written then, else from disk."""
    parts: list[pa.Table | ds.Dataset] = []
    for kind in spec.kinds:
        listed = (files or {}).get(kind, {})
        rest, held = [], []
        for d in days:
            rows = kept.take(kind, d, listed.get(d)) if kept is not None else None
            if rows is None:
                rest.append(d)
            else:
                held.append(rows.select(spec.schema.names))
        if held:  # a kind's kept days share a schema (one writer's): one cast
            parts.append(pa.concat_tables(held, promote_options="permissive").cast(spec.schema))
        stored, _ = stored_files(data_dir, kind, ledger_id, rest, spec.schema)
        if stored is not None:
            parts.append(stored)
    num_rows = sum(p.num_rows if isinstance(p, pa.Table) else _footer_rows(p) for p in parts)
    return DayRows(spec.schema, tuple(parts), num_rows)


def _footer_rows(files: ds.Dataset) -> int:
    """The files' rows from their footers, kept on the dataset's fragments: the read that
    follows does not fetch them again (``count_rows`` did, a third more per commit)."""
    total = 0
    for fragment in files.get_fragments():
        fragment.ensure_complete_metadata()
        total += fragment.metadata.num_rows
    return total


def replace_days(
    data_dir: DataDir,
    spec: TableSpec,
    ledger_id: str,
    days: Sequence[date],
    rows: DayRows | None = None,
) -> None:
    """Replace the table's rows of ``days`` with the landing files' rows (``rows``, or read
    from the files), in one commit."""
    from deltalake import write_deltalake

    rows = rows if rows is not None else day_rows(data_dir, spec, ledger_id, days)
    predicate = day_predicate(ledger_id, days)
    uri, options = table_uri(data_dir, spec.name), storage_options(data_dir)

    def commit() -> None:
        if rows.num_rows > STREAM_ROWS:
            replace_large(data_dir, spec, ledger_id, days, rows, predicate)
        elif rows.num_rows:
            write_deltalake(
                uri,
                rows.table(),
                mode="overwrite",
                predicate=predicate,
                partition_by=list(spec.partition_by),
                storage_options=options,
            )
        elif (table := open_table(data_dir, spec.name)) is not None:
            table.delete(predicate)

    with_retries(commit)


def catch_up_all(
    data_dir: DataDir, inventories: Mapping[str, dict[str, dict[date, int]]]
) -> dict[str, dict[str, int]]:
    """:func:`commit_ledger` for each ledger (under its lock) and the ledger list: the repair a
    sync ends with, for ledgers it had no work for. Returns what was committed per ledger."""
    out = {}
    for ledger_id, files in inventories.items():
        with ledger_lock(data_dir, ledger_id):
            if counts := commit_ledger(data_dir, ledger_id, files):
                out[ledger_id] = counts
    if catch_up_ledger_list(data_dir):
        out[LEDGERS_TABLE.name] = {LEDGERS_TABLE.name: 1}
    return out


def catch_up_ledger_list(data_dir: DataDir) -> bool:
    """Commit ``ledgers.parquet`` when the table does not hold its current version yet."""
    path, record = ledgers_path(data_dir), as_dir(data_dir) / TABLES_FOLDER / LIST_RECORD
    try:
        stamp = stamp_of(path)
    except FileNotFoundError:
        return False
    if read_json(record, heal=True).get("mtime_ns") == stamp:
        return False
    commit_ledgers(data_dir, read_table(path, schema=LEDGERS_TABLE.schema), stamp)
    return True


def commit_ledgers(data_dir: DataDir, table: pa.Table, stamp: int | None = None) -> None:
    """The ledger list's table replaced whole by the list just written (``stamp``: the
    file's modification time, recorded once committed; None: read it)."""
    from deltalake import write_deltalake

    uri, options = table_uri(data_dir, LEDGERS_TABLE.name), storage_options(data_dir)
    stamp = stamp if stamp is not None else stamp_of(ledgers_path(data_dir))
    with_retries(lambda: write_deltalake(uri, table, mode="overwrite", storage_options=options))
    write_json(as_dir(data_dir) / TABLES_FOLDER / LIST_RECORD, {"mtime_ns": stamp})


def stamp_of(path: DataDir) -> int:
    """A file's modification time as the inventory lists it."""
    if is_remote(path):
        return info_mtime_ns(path.fs.info(path.path))
    return os.stat(path).st_mtime_ns


def with_retries(commit) -> None:
    """Run ``commit`` again when another writer's commit won the race (a conflict in Delta's
    optimistic concurrency, or two first commits creating the table at once)."""
    for attempt in range(RETRIES):
        try:
            commit()
            return
        except TableError as exc:
            if attempt == RETRIES - 1 or not _lost_race(exc):
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))


def _lost_race(exc: Exception) -> bool:
    from deltalake.exceptions import CommitFailedError

    text = str(exc).lower()
    return isinstance(exc, CommitFailedError) or any(
        word in text for word in ("conflict", "already exists", "version")
    )
