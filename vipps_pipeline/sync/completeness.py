"""The completeness model: what is stored per ledger, how far it is final, what is stale.

Per ledger and topic, *final through* is the last date up to which every date since the start
is stored (a report file exists only once its date is final); the *frontier* is the next date.
The vendor closes a ledger's dates in order, so everything from the frontier on is still to
fetch, and nothing before it is.

Statements and findings are derived files. A statement is stale when a report of its day is
newer; findings are stale when any of their inputs is newer (the day's statement, the
statements of the days before it that the balance chain may reach back to, and both reports
across the fee window). Comparing modification times keeps this cheap for years of days, and
it heals every way derived files can fall behind: a run that fetched reports only, a killed
step, a late day whose neighbours were reconciled before it arrived.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vipps_pipeline.books.reconcile import CHAIN_LOOKBACK_DAYS
from vipps_pipeline.settings import validate_ledger_id
from vipps_pipeline.store import objstore
from vipps_pipeline.store.atomic import quarantine, read_json, write_json
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.paths import DAY_KINDS, REPORT_KINDS, day_path, state_path, verified_path


@dataclass
class Inventory:
    """Stored ledger-day files of one ledger: kind -> date -> modification time (ns)."""

    ledger_id: str
    files: dict[str, dict[date, int]] = field(default_factory=dict)

    def dates(self, kind: str) -> set[date]:
        return set(self.files.get(kind, {}))

    def has(self, kind: str, d: date) -> bool:
        return d in self.files.get(kind, {})

    def mtime(self, kind: str, d: date) -> int | None:
        return self.files.get(kind, {}).get(d)

    def reports_stored(self, d: date) -> bool:
        return all(self.has(k, d) for k in REPORT_KINDS)

    def record(self, kind: str, d: date, mtime_ns: int) -> None:
        self.files.setdefault(kind, {})[d] = mtime_ns

    def wrote(self, data_dir: DataDir, kind: str, dates: Iterable[date]) -> None:
        """Take in files just written, with the modification time a scan would list for them:
        a sync lists a ledger once and keeps its inventory current this way, one ``stat`` per
        file written instead of a listing of every stored file per chunk."""
        for d in dates:
            self.record(kind, d, mtime_ns(day_path(data_dir, kind, self.ledger_id, d)))


def mtime_ns(path: DataDir) -> int:
    """A stored file's modification time as :func:`scan` lists it (on an object store, the
    listing's time to the second, so that both compare alike)."""
    if objstore.is_remote(path):
        return objstore.info_mtime_ns(path.fs.info(path.path))
    return os.stat(path).st_mtime_ns


def scan(
    data_dir: DataDir,
    ledger_id: str,
    kinds: Iterable[str] = DAY_KINDS,
    verify: bool = False,
    indexed: bool = True,
) -> Inventory:
    """List one ledger's stored files (names and mtimes only; no file is opened).

    ``verify``: a file is trusted only once its Parquet footer has been read (see
    :class:`_Verified`); one that cannot be read is quarantined and left out, so its day counts
    as not stored and is fetched or computed again. Every driver that decides what to skip
    (the planner, the sync's walk, the derived files) verifies; listings for display need not.

    On an object store the inventory comes from the tables' record when no run is writing the
    ledger (:mod:`vipps_pipeline.sync.index`); ``indexed=False`` lists every object instead
    (``tables build``, which repairs whatever the record says).
    """
    validate_ledger_id(ledger_id)
    data_dir = objstore.as_dir(data_dir)
    kinds = tuple(kinds)
    if objstore.is_remote(data_dir):
        from vipps_pipeline.sync import index  # the index builds Inventory objects: late

        return index.scan_store(data_dir, ledger_id, kinds, indexed)
    inv = Inventory(ledger_id)
    checked = _Verified(data_dir, ledger_id, kinds) if verify else None
    for kind in kinds:
        found: dict[date, int] = {}
        for year in _year_folders(data_dir / kind / ledger_id):
            for entry in os.scandir(year.path):
                name = entry.name
                if name.startswith(".") or not name.endswith(".parquet"):
                    continue  # temporaries of a writer in progress, or foreign files
                try:
                    d = date.fromisoformat(name[: -len(".parquet")])
                except ValueError:
                    continue
                stat = entry.stat()
                if checked is not None and not checked.trust(kind, d, entry.path, stat):
                    continue
                found[d] = stat.st_mtime_ns
        inv.files[kind] = found
    if checked is not None:
        checked.save()
    return inv


class _Verified:
    """The files of one ledger whose footer has been read, as ``kind/date -> [size, mtime]``
    in ``<data>/state/verified/<ledger>.json``.

    A modification time alone is not proof: a copy that kept it, a truncation by a full disk
    or a restore can leave a file that no reader can open. Reading every footer on every scan
    would cost a file open per ledger-day, so a footer is read once per (size, mtime) and
    remembered; a file whose size or mtime changed is read again. The record is a cache: lost
    or damaged, it only costs reading the footers once more, so it is written without the
    ledger's lock (atomically, in a file of its own, never over the ledger's state).
    """

    def __init__(self, data_dir: DataDir, ledger_id: str, kinds: tuple[str, ...]) -> None:
        self.path = verified_path(data_dir, ledger_id)
        raw = read_json(self.path, heal=True)
        self.old: dict[str, list[int]] = {
            k: v
            for k, v in raw.items()
            if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v)
        }
        # entries of kinds not scanned now are kept as they are
        self.new = {k: v for k, v in self.old.items() if k.rsplit("/", 1)[0] not in kinds}

    def trust(self, kind: str, d: date, path: str, stat: os.stat_result) -> bool:
        key, seen = f"{kind}/{d.isoformat()}", [stat.st_size, stat.st_mtime_ns]
        if self.old.get(key) != seen:
            problem = parquet_problem(path)
            if problem is not None:
                quarantine(Path(path), problem)
                return False
        self.new[key] = seen
        return True

    def save(self) -> None:
        if self.new != self.old:
            # a read-only data directory: verified again next time, nothing worse
            with contextlib.suppress(OSError):
                write_json(self.path, self.new)


def parquet_problem(path: str | Path) -> str | None:
    """Why a stored Parquet file cannot be trusted (None when its footer reads and its row
    groups add up to its row count): a truncated file has no footer at all."""
    try:
        meta = pq.read_metadata(path)
    except FileNotFoundError:
        return None  # replaced or removed since it was listed: the next scan sees it again
    except (OSError, pa.ArrowException) as exc:
        return f"not a readable Parquet file: {str(exc).splitlines()[0][:160]}"
    groups = sum(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    if groups != meta.num_rows:
        return f"its row groups hold {groups} rows, its footer says {meta.num_rows}"
    return None


def _year_folders(root: DataDir) -> list[os.DirEntry]:
    """The ``<yyyy>`` folders of one kind and ledger (none when nothing is stored yet)."""
    try:
        return [e for e in os.scandir(root) if e.is_dir() and e.name.isdigit()]
    except FileNotFoundError:
        return []


RACY_NS = 2 * 10**9
"""A folder changed this recently is not trusted by :func:`fingerprint`: a second change within
the file system's timestamp granularity could leave the folder's modification time as it was."""

Fingerprint = tuple[tuple[str, tuple[tuple[str, int], ...]], ...]


def fingerprint(
    data_dir: DataDir, ledger_id: str, kinds: Iterable[str] = DAY_KINDS
) -> Fingerprint | None:
    """What :func:`scan` and the ledger's state file depend on, read cheaply: the modification
    time of each kind's year folders (a handful of ``stat`` calls instead of one per file) and
    of the state file.

    Files are only ever added, replaced or removed by renaming or unlinking inside their year
    folder (``storage`` writes a temporary and renames it into place), and every such change
    moves the folder's modification time; so an equal fingerprint means an equal scan. Editing
    a stored file in place is not seen. ``None`` where it cannot be trusted: object stores (no
    folder times) and anything changed within the last :data:`RACY_NS`.
    """
    validate_ledger_id(ledger_id)
    data_dir = objstore.as_dir(data_dir)
    if objstore.is_remote(data_dir):
        return None
    horizon = time.time_ns() - RACY_NS
    parts: list[tuple[str, tuple[tuple[str, int], ...]]] = []
    for kind in kinds:
        years = _year_folders(data_dir / kind / ledger_id)
        parts.append((kind, tuple(sorted((e.name, e.stat().st_mtime_ns) for e in years))))
    try:
        parts.append(("state", (("", os.stat(state_path(data_dir, ledger_id)).st_mtime_ns),)))
    except FileNotFoundError:
        parts.append(("state", ()))
    if any(mtime > horizon for _, stamps in parts for _, mtime in stamps):
        return None
    return tuple(parts)


def final_through(stored: set[date], start: date) -> date | None:
    """The last date up to which every date from ``start`` is stored (None: not even start)."""
    if start not in stored:
        return None
    d = start
    while d + timedelta(days=1) in stored:  # one set look-up a day: years cost microseconds
        d += timedelta(days=1)
    return d


def frontier(stored: set[date], start: date) -> date:
    """The first date, from ``start``, that is not stored yet."""
    last = final_through(stored, start)
    return start if last is None else last + timedelta(days=1)


def _sliding_max(
    days: list[date], values: dict[date, int], before: int, after: int
) -> dict[date, int]:
    """For each day D, the largest value among dates D-before..D+after (0 when none)."""
    if not days:
        return {}
    lo, hi = days[0] - timedelta(days=before), days[-1] + timedelta(days=after)
    span = [lo + timedelta(days=k) for k in range((hi - lo).days + 1)]
    out: dict[date, int] = {}
    window: deque[tuple[date, int]] = deque()  # decreasing values
    wanted = set(days)
    i = 0
    for d in span:
        # admit dates up to d + after
        while i < len(span) and span[i] <= d + timedelta(days=after):
            v = values.get(span[i], 0)
            while window and window[-1][1] <= v:
                window.pop()
            window.append((span[i], v))
            i += 1
        while window and window[0][0] < d - timedelta(days=before):
            window.popleft()
        if d in wanted:
            out[d] = window[0][1] if window else 0
    return out


def stale_journal(inv: Inventory) -> list[date]:
    """Days whose journal is missing or older than one of the day's reports."""
    journals = inv.files.get("journal", {})
    return [
        d
        for d in sorted(inv.dates(REPORT_KINDS[0]))
        if inv.has(REPORT_KINDS[1], d)
        and journals.get(d, -1) < max(inv.mtime(k, d) or 0 for k in REPORT_KINDS)
    ]


def stale_days(inv: Inventory, window: int) -> tuple[list[date], list[date]]:
    """(days whose statement is missing or stale, days whose findings are missing or stale).

    Only days with both reports stored can have a statement; only days with a statement can
    have findings. A findings file is stale when any input is newer: the day's statement, the
    statements of the :data:`CHAIN_LOOKBACK_DAYS` before it, or a report in the fee window.
    """
    days = sorted(d for d in inv.dates(REPORT_KINDS[0]) if inv.has(REPORT_KINDS[1], d))
    reports = {
        d: max(inv.mtime(k, d) or 0 for k in REPORT_KINDS)
        for d in inv.dates(REPORT_KINDS[0]) | inv.dates(REPORT_KINDS[1])
    }
    statement_times = inv.files.get("statements", {})
    findings_times = inv.files.get("reconciliation", {})
    stale_statements = [
        d
        for d in days
        if statement_times.get(d, -1) < max(inv.mtime(k, d) or 0 for k in REPORT_KINDS)
    ]
    span = window - 1
    report_max = _sliding_max(days, reports, span, span)
    stated = [d for d in days if d in statement_times]
    statement_max = _sliding_max(stated, statement_times, CHAIN_LOOKBACK_DAYS, 0)
    pending = set(stale_statements)
    stale_findings = [
        d
        for d in days
        if d in pending
        or (
            d in statement_times
            and findings_times.get(d, -1) < max(report_max.get(d, 0), statement_max.get(d, 0))
        )
    ]
    return stale_statements, stale_findings
