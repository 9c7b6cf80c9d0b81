"""Atomic writers, the locks that serialise writers, and the recovery from a crashed one.

Every file is written to a hidden temporary name in its final folder and renamed into place
only after it is complete and flushed, so a crash leaves the old file or the new one, never a
partial one. Temporary names start with a dot and do not end in ``.parquet``: neither
``pyarrow.dataset`` nor a ``**/*.parquet`` glob ever reads them. On an object store the
temporary is local and the finished file is uploaded once (see
:mod:`vipps_pipeline.store.objstore`).

A streamed file is encoded and compressed on a writer thread (Arrow releases the GIL while it
does), so the thread producing the batches fetches and parses on meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vipps_pipeline.store import objstore
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.paths import ledger_lock_path
from vipps_pipeline.store.processes import pid_alive

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_file(path: DataDir) -> Iterator[Path]:
    """Yield a hidden temporary name beside ``path``; once the body has written and closed
    it, flush it to disk and rename it over ``path``. On any error the temporary is removed
    and ``path`` keeps its old content: readers see the old file or the new one, never a part.

    ``VIPPS_FSYNC=0`` skips the flush: the rename alone keeps a killed process from leaving a
    part (the page cache outlives it); only a power cut needs the flush. The test suite sets it
    for tests that never kill a process, where the flushes were most of the waiting.

    On an object store the temporary is a local staging file and the finished file is sent in
    one upload to ``path`` (a rename there is a copy, not atomic).
    """
    target = path
    remote = objstore.is_remote(target)
    path = objstore.local_mirror(target, "staging") if remote else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent not in _CLEANED:
        remove_stale_temporaries(path.parent)
        _CLEANED.add(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        if remote:
            objstore.upload(tmp, target)
            tmp.unlink()
            return
        if os.environ.get("VIPPS_FSYNC", "1") != "0":
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: DataDir, data: object) -> None:
    """Atomically replace a small JSON file."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, default=str)


def read_json(path: DataDir, heal: bool = False) -> dict:
    """A small JSON object ({} when there is none).

    ``heal``: a file that is not a JSON object (a hand edit, another tool's crash) is
    quarantined and read as empty, so what it held is learned again instead of every later
    run failing on it. Only for files whose facts can be learned again (a ledger's state, the
    verified-files record); without it, a file that is not JSON raises.
    """
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        if not heal:
            raise
        quarantine(path, f"not JSON ({str(exc).splitlines()[0][:120]})")
        return {}
    if not isinstance(data, dict):
        if heal:
            quarantine(path, f"a JSON {type(data).__name__}, not an object")
        return {}
    return data


def quarantine(path: DataDir, why: str) -> DataDir | None:
    """Move an unreadable file aside to ``<name>.corrupt-<UTC time>`` and say so in one
    WARNING line; returns where it went (None when it was already gone).

    Kept rather than deleted so that a person can see what broke; the new name does not end in
    ``.parquet`` or ``.json``, so no scan, dataset or query reads it again. On an object store
    (no rename) the file is deleted instead: a remote copy is no use to the person anyway.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        if objstore.is_remote(path):
            path.unlink()
            target = None
        else:
            os.replace(path, target)
    except FileNotFoundError:
        return None  # another process quarantined (or replaced) it first
    except OSError as exc:  # a read-only data directory: the file is still not trusted
        log.warning("%s is unreadable (%s) and cannot be moved aside: %s", path, why, exc.strerror)
        return None
    log.warning(
        "%s is unreadable (%s): %s; it is rebuilt from the API",
        path,
        why,
        f"moved aside to {target.name}" if target is not None else "deleted",
    )
    return target


@contextlib.contextmanager
def ledger_lock(data_dir: DataDir, ledger_id: str) -> Iterator[None]:
    """Serialise statement and findings work on one ledger across processes.

    Two runs may store neighbouring days of a ledger at the same time (a backfill split by
    date, or a backfill beside the hourly sync). Each recomputes its neighbours' findings; the
    lock makes "read the inputs, write the findings" one step, so a run can never overwrite a
    neighbour's findings with a result computed before the other run's day was stored.
    """
    with file_lock(ledger_lock_path(data_dir, ledger_id)):
        yield


@contextlib.contextmanager
def file_lock(path: DataDir) -> Iterator[None]:
    """An exclusive lock across processes; for a data directory on an object store (which has
    no locks) the lock file is local, so it serialises the processes of one machine only."""
    path = objstore.local_mirror(path, "locks")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


_CLEANED: set[Path] = set()
"""Folders this process has cleaned of killed writers' temporaries: once per folder and
process, not once per file written (a listing of a year's folder per file was a tenth of a
sync's file writing). A writer killed later is cleaned up after by the next process."""


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporary files in ``folder`` left by a writer that was killed (SIGKILL, power
    loss). A temporary whose writing process is still alive is left alone."""
    removed = []
    for tmp in folder.glob(".*.tmp"):
        parts = tmp.name.rsplit(".", 3)  # .<name>.<pid>.<uuid>.tmp
        if len(parts) == 4 and parts[1].isdigit() and not pid_alive(int(parts[1])):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_parquet_writer(
    path: DataDir, schema: pa.Schema, dictionary: bool | list[str] = True, rows: int | None = None
) -> Iterator[pq.ParquetWriter]:
    """Yield a writer to a temporary file; rename it over ``path`` only on success.
    ``dictionary``: dictionary-encode every column, or only those named; ``rows``: how many
    rows the file will hold when known (a small file is compressed with Snappy, see
    :data:`SMALL_FILE_ROWS`)."""
    small = rows is not None and rows <= SMALL_FILE_ROWS
    with atomic_file(path) as tmp:
        writer = pq.ParquetWriter(
            tmp, schema, compression="snappy" if small else "zstd", use_dictionary=dictionary
        )
        try:
            yield writer
        finally:
            writer.close()


SMALL_FILE_ROWS = 1_000
"""Up to this many rows (a ledger-day's statement, findings or journal, most days' reports) a
file is compressed with Snappy: Zstandard's set-up per column cost twice the whole write of
such a file and saved a few hundred bytes. Any Parquet reader reads both."""

_DONE = object()


@contextlib.contextmanager
def _on_thread(write: Callable[[pa.RecordBatch | pa.Table], None]) -> Iterator[Callable]:
    """Yield ``put``: each item put is passed to ``write`` on a thread of its own, at most one
    item behind (memory stays at two items). An error of ``write`` is raised by the next
    ``put`` or on leaving; leaving, on success or error, waits for the thread to stop, so the
    caller may close the file the moment this returns."""
    todo: queue.Queue = queue.Queue(maxsize=1)
    failed: list[BaseException] = []

    def work() -> None:
        while (item := todo.get()) is not _DONE:
            if not failed:  # after an error, drain so that ``put`` never blocks for ever
                try:
                    write(item)
                except BaseException as exc:
                    failed.append(exc)

    thread = threading.Thread(target=work, name="parquet-writer", daemon=True)
    thread.start()

    def put(item: pa.RecordBatch | pa.Table) -> None:
        if failed:
            raise failed[0]
        todo.put(item)

    try:
        yield put
    finally:
        todo.put(_DONE)
        thread.join()
    if failed:
        raise failed[0]


def write_batches(
    path: DataDir,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch | pa.Table],
    dictionary: bool | list[str] = True,
) -> int:
    """Write batches (or tables) atomically, each one row group, encoded on a writer thread
    while the next is produced; an empty iterable gives a valid zero-row file. Returns rows.
    A single row group (most days) is written on this thread: a thread's hand-overs cost
    more than such a group takes to encode."""
    batches = iter(batches)
    first = next(batches, None)
    second = next(batches, None) if first is not None else None
    if second is None:
        rows = first.num_rows if first is not None else 0
        with atomic_parquet_writer(path, schema, dictionary, rows) as writer:
            if first is not None:
                writer.write(first)
        return rows
    rows = 0
    with (
        atomic_parquet_writer(path, schema, dictionary) as writer,
        _on_thread(writer.write) as put,
    ):
        for batch in itertools.chain((first, second), batches):
            put(batch)
            rows += batch.num_rows
    return rows


def write_csv(path: DataDir, table: pa.Table) -> None:
    """Atomically write a CSV file (temporary name, fsync, rename), like the Parquet files."""
    import pyarrow.csv as pacsv

    with atomic_file(path) as tmp:
        pacsv.write_csv(table, tmp)


def write_table(path: DataDir, table: pa.Table) -> int:
    with atomic_parquet_writer(path, table.schema, rows=table.num_rows) as writer:
        writer.write_table(table)
    return table.num_rows
