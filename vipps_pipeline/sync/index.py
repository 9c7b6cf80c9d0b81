"""A ledger's inventory on an object store from the tables' record, not a listing of every object.

On local disk a ledger is listed cheaply (:func:`completeness.fingerprint`); an object store
has no folder times, so listing a ledger there costs requests in proportion to its objects (one
per 1,000 per landing kind), and the sync's sensor plans every ledger every minute. Yet after
each commit ``tables/_committed/<ledger>.json`` (:mod:`vipps_pipeline.lake.commit`) records
every landing file of the ledger with its modification time as listed: while nothing is being
written, that record *is* the listing. Two kinds of small objects under
``tables/_index/<ledger>/`` say when it can be trusted:

* ``writing/<token>``: a run that writes landing files of the ledger puts it before its first
  write (token unique per run), refreshes it while it works (at most every :data:`REFRESH_S`)
  and deletes it after its last commit succeeded. A run killed, or one whose derived files or
  commit failed, leaves it: its files may be missing from the record.
* ``verified``: put when a full listing found the record equal to the landing files; its
  modification time is when.

A scan lists that folder (one LIST) and, when it holds no ``writing/`` marker and a
``verified`` younger than :data:`VERIFY_S`, reads the record (one GET): two requests whatever
the ledger's size. Otherwise it lists every object as before; when that listing equals the
record, markers that were already stale (not refreshed for :data:`STALE_S`) before the listing
began are deleted (every file their run wrote is in the listing, and so committed) and
``verified`` is put again. Hence a landing object deleted or added by hand, or a run of an
older version that put no marker, is noticed by the next full listing: at most
:data:`VERIFY_S` later. See docs/tables.md, "On object storage".
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from vipps_pipeline.lake.commit import committed_path
from vipps_pipeline.lake.tables import TABLES_FOLDER
from vipps_pipeline.store import objstore
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.paths import DAY_KINDS
from vipps_pipeline.sync.completeness import Inventory

log = logging.getLogger(__name__)

INDEX = "_index"
WRITING = "writing"
VERIFIED = "verified"
REFRESH_S = 300.0
"""A running writer puts its marker again when this long has passed since it last did."""
STALE_S = 3600.0
"""A marker not refreshed for this long belongs to a run that was killed (or hangs): a full
listing that equals the record deletes it. Twelve refresh intervals, so that a live run's
marker never looks stale unless it made no progress for an hour."""
VERIFY_S = 86400.0
"""The record is trusted for at most this long after the last full listing that matched it:
once a day per ledger, the landing objects are listed in full."""


def index_dir(data_dir: DataDir, ledger_id: str) -> DataDir:
    return objstore.as_dir(data_dir) / TABLES_FOLDER / INDEX / ledger_id


@dataclass(frozen=True)
class IndexState:
    """What one LIST of the ledger's index folder said (times in seconds since the epoch)."""

    markers: dict[str, float] = field(default_factory=dict)
    verified: float | None = None

    def trusted(self, now: float) -> bool:
        """Whether the record may stand for a listing: no run at work or killed, and a full
        listing matched the record recently."""
        return not self.markers and self.verified is not None and now - self.verified < VERIFY_S


def read_index(data_dir: DataDir, ledger_id: str) -> IndexState:
    listed = objstore.list_files(index_dir(data_dir, ledger_id))
    markers = {name: ns / 1e9 for name, ns in listed.items() if name.startswith(WRITING + "/")}
    verified = listed.get(VERIFIED)
    return IndexState(markers, None if verified is None else verified / 1e9)


def read_record(data_dir: DataDir, ledger_id: str) -> dict[str, dict[str, int]] | None:
    """The tables' record of the ledger as landing kind -> ISO date -> mtime (ns), read with
    one GET; None when missing or not what a commit writes (never healed here: the next commit
    does that)."""
    path = committed_path(data_dir, ledger_id)
    try:
        # start=0: a ranged GET of the whole object (without it s3fs asks for the size first)
        raw = json.loads(path.fs.cat_file(path.path, start=0))
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    record: dict[str, dict[str, int]] = {}
    for kind, days in raw.items():
        if not isinstance(days, dict) or not all(
            isinstance(m, int) and not isinstance(m, bool) for m in days.values()
        ):
            return None
        record[kind] = days
    return record


def from_record(
    ledger_id: str, record: dict[str, dict[str, int]], kinds: tuple[str, ...]
) -> Inventory | None:
    inv = Inventory(ledger_id)
    try:
        for kind in kinds:
            inv.files[kind] = {date.fromisoformat(d): m for d, m in record.get(kind, {}).items()}
    except (TypeError, ValueError):
        return None
    return inv


def scan_store(
    data_dir: DataDir, ledger_id: str, kinds: tuple[str, ...], indexed: bool
) -> Inventory:
    """The object-store scan: from the record when it can be trusted, else a full listing
    (which, when it matches the record, clears stale markers and re-verifies)."""
    state = None
    if indexed and set(kinds) <= set(DAY_KINDS):
        state = read_index(data_dir, ledger_id)
        if state.trusted(time.time()):
            record = read_record(data_dir, ledger_id)
            inv = from_record(ledger_id, record, kinds) if record is not None else None
            if inv is not None:
                return inv
    inv = list_store(data_dir, ledger_id, kinds)
    if state is not None and set(kinds) == set(DAY_KINDS):
        settle(data_dir, ledger_id, inv, state)
    return inv


def list_store(data_dir: DataDir, ledger_id: str, kinds: tuple[str, ...]) -> Inventory:
    """Every object of the ledger: one recursive listing per kind, mtimes from the listing.

    Object stores keep modification times to the second: a derived file written in the same
    second as its input counts as up to date, which is the order a run writes them in.
    """
    inv = Inventory(ledger_id)
    for kind in kinds:
        found: dict[date, int] = {}
        for name, mtime_ns in objstore.list_files(data_dir / kind / ledger_id).items():
            year, _, base = name.partition("/")
            if (
                not year.isdigit()
                or "/" in base
                or base.startswith(".")
                or not base.endswith(".parquet")
            ):
                continue
            try:
                found[date.fromisoformat(base[: -len(".parquet")])] = mtime_ns
            except ValueError:
                continue
        inv.files[kind] = found
    return inv


def settle(data_dir: DataDir, ledger_id: str, inv: Inventory, state: IndexState) -> None:
    """After a full listing taken after ``state`` was read: when the record equals it, delete
    the markers that were stale already then and say the record was verified now; when it
    differs, the record is no longer trusted (``verified`` goes)."""
    record = read_record(data_dir, ledger_id)
    now, root = time.time(), index_dir(data_dir, ledger_id)
    fresh = False
    try:
        if record is None or any(
            record.get(kind, {}) != {d.isoformat(): m for d, m in inv.files.get(kind, {}).items()}
            for kind in DAY_KINDS
        ):
            # files not committed yet (a run at work, or killed: the sync's commits catch up),
            # an object deleted or added by hand, or the record lost: full listings until a
            # listing matches the record again
            if state.verified is not None:
                with contextlib.suppress(FileNotFoundError):
                    (root / VERIFIED).fs.rm_file((root / VERIFIED).path)
            return
        for name, mtime in state.markers.items():
            if now - mtime < STALE_S:
                fresh = True  # a run at work: its files may come after this listing
                continue
            with contextlib.suppress(FileNotFoundError):
                (root / name).fs.rm_file((root / name).path)
            log.info("deleted the stale writing marker %s of ledger %s", name, ledger_id)
        if not fresh and (state.verified is None or now - state.verified >= REFRESH_S):
            (root / VERIFIED).fs.pipe_file((root / VERIFIED).path, b"")
    except OSError as exc:  # read-only credentials: the next full listing tries again
        log.warning("could not update the index of ledger %s: %s", ledger_id, exc)


class Marker:
    """A run's ``writing/<token>`` marker for one ledger (does nothing on local disk)."""

    def __init__(self, data_dir: DataDir, ledger_id: str) -> None:
        self.path = None
        if objstore.is_remote(objstore.as_dir(data_dir)):
            token = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
            self.path = index_dir(data_dir, ledger_id) / WRITING / token
        self.last = float("-inf")

    def touch(self) -> None:
        """Put the marker (before the run's first write), again once :data:`REFRESH_S` passed."""
        if self.path is None or time.monotonic() - self.last < REFRESH_S:
            return
        about = {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()}
        self.path.fs.pipe_file(self.path.path, json.dumps(about).encode())
        self.last = time.monotonic()

    def done(self) -> None:
        """Every file the run wrote is committed: its marker goes (a failure to delete it only
        costs full listings until it is stale)."""
        if self.path is None or self.last == float("-inf"):
            return
        try:
            self.path.fs.rm_file(self.path.path)
        except OSError as exc:
            log.warning("could not delete the writing marker %s: %s", self.path, exc)
