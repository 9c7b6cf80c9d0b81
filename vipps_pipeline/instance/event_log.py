"""Dagster's SQLite event log, storing a batch of events in one transaction per database.

Dagster batches event writes (``DAGSTER_EVENT_BATCH_SIZE``) but only PostgreSQL and MySQL act
on it, and only for materializations: SQLite stores a batch event by event, and each event
costs three to five commits (a disk flush each) across the run's database and the index. A
ledger-day is five materializations and four check evaluations, so on the embedded default
those commits were most of what Dagster added to a backfill.

This class stores a batch in one transaction per database, committed when the batch ends: two
commits per batch instead of three to five per event. A batch of one run's check evaluations is
stored in a statement per table (:mod:`vipps_pipeline.instance.check_batches`). A batch of one
asset's materializations
(what the recorder sends, one batch per asset and chunk) is stored as PostgreSQL's storage
stores it: one multi-row insert into the run's table and one into the index, the partition tags
in one statement, and the asset's latest record from the batch's last event. Any other batch is
stored with Dagster's own ``store_event``, event by event, the same rows in the same order. If
anything fails the batch rolls back and Dagster stores its events one by one.

The embedded default's ``dagster.yaml`` (written by ``vipps-pipeline``, see
``headless.dagster_home``) selects it; the layout on disk is Dagster's default, so a home
written with or without it reads the same.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import dagster as dg
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine

from vipps_pipeline.instance import check_batches

KEPT_RUN_DATABASES = 4
"""Run databases (one per run) a process keeps an engine for: those it writes to."""


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose ``store_event_batch`` commits once per database."""

    stores_check_batches = True
    """Read by the recorder: check evaluations may be sent as a batch to this storage."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._batch = threading.local()  # before the parent's set-up, which connects
        self._engines: dict[str, Engine] = {}  # shard -> its engine (see _engine)
        self._engines_pid = os.getpid()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> BatchingSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        with ExitStack() as stack:
            self._batch.stack, self._batch.connections = stack, {}
            try:
                if _one_asset_materializations(events):
                    self._store_materializations(events)
                elif check_batches.one_run_evaluations(events):
                    self._store_evaluations(events)
                else:
                    for event in events:
                        self.store_event(event)
            finally:
                self._batch.stack = self._batch.connections = None

    @contextmanager
    def _events_stored(
        self, events: Sequence[dg.EventLogEntry]
    ) -> Iterator[tuple[Connection, list[dict[str, Any]], list[int]]]:
        """Each event's row in the run's database and in the index, one statement each (the
        events serialised once); yields the index's open transaction, the rows and their ids,
        for the rows that go with them."""
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            yield conn, rows, check_batches.insert_returning_ids(conn, rows)

    def _store_materializations(self, events: Sequence[dg.EventLogEntry]) -> None:
        """The rows ``store_event`` writes for each, in one statement per table: SQLAlchemy
        compiling three statements instead of three per event."""
        with self._events_stored(events) as (conn, _, ids):
            self._store_asset_event_tags(conn, events, ids)
            self._store_asset_event(conn, events[-1], ids[-1])

    def _store_evaluations(self, events: Sequence[dg.EventLogEntry]) -> None:
        """The rows ``store_event`` writes for each check evaluation, a statement per table
        (:mod:`vipps_pipeline.instance.check_batches`)."""
        with self._events_stored(events) as (conn, rows, ids):
            check_batches.store_executions(conn, events, rows, ids, self._event_insert_timestamp)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        connections = getattr(self._batch, "connections", None)
        if connections is None:
            with self._open(shard) as conn:
                yield conn
            return
        if shard not in connections:
            connections[shard] = self._batch.stack.enter_context(self._open(shard))
        yield connections[shard]

    @contextmanager
    def _open(self, shard: str) -> Iterator[Connection]:
        """A connection to the shard's database in a transaction committed on exit: Dagster's
        ``_connect`` without the per-call engine, nor the storage-wide lock held throughout
        (SQLite's own locks and busy timeout order writers, as they do across processes)."""
        with self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def _engine(self, shard: str) -> Engine:
        """One engine per database: the index for the storage's lifetime, a run's database
        while it is among the last :data:`KEPT_RUN_DATABASES` written to.

        Dagster creates an engine per statement group and closes its connection again: 2.5 ms
        a time, four times per batch, and in WAL mode the close of a database's last
        connection checkpoints the log into the database and flushes it to disk. Here the
        engine's pool keeps the connections idle between uses (no lock, no transaction: other
        processes read and write as before) and SQLite checkpoints as for any long-lived
        application. A forked child builds its own (a connection must not cross a fork)."""
        with self._db_lock:
            if self._engines_pid != os.getpid():
                self._engines, self._engines_pid = {}, os.getpid()
            engine = self._engines.get(shard)
            if engine is not None:
                return engine
            engine = create_engine(  # any number at once (as Dagster's), five kept idle
                self.conn_string_for_shard(shard),
                max_overflow=-1,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            runs = [k for k in self._engines if k != INDEX_SHARD_NAME]
            if shard != INDEX_SHARD_NAME and len(runs) >= KEPT_RUN_DATABASES:
                self._engines.pop(runs[0]).dispose()  # the oldest run written to: done
            self._engines[shard] = engine
            return engine

    def _dispose_engines(self) -> None:
        with self._db_lock:
            engines, self._engines = self._engines, {}
        for engine in engines.values():
            engine.dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # no pooled connection to a database file it deletes
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


def _one_asset_materializations(events: Sequence[dg.EventLogEntry]) -> bool:
    """Whether ``events`` are materializations of one asset in one run (the asset's latest
    record is taken from the last, as PostgreSQL's batch write does)."""
    if not events:
        return False
    first = events[0].dagster_event
    return all(
        e.dagster_event is not None
        and e.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and e.dagster_event.asset_key == first.asset_key  # type: ignore[union-attr]
        and e.run_id == events[0].run_id
        for e in events
    )


def dagster_yaml(home: str) -> str:
    """The embedded default's instance settings: Dagster's SQLite layout under ``home``, with
    the batching event log, runs printing INFO and above, and no telemetry."""
    return (
        "# Written by vipps-pipeline for the embedded default (SQLite under this folder).\n"
        "# The event log stores a batch of events in one transaction per database\n"
        "# (vipps_pipeline/instance/event_log.py); delete this file to use Dagster's plain\n"
        "# SQLite storage, the data stays readable. Production: deploy/dagster.yaml.\n"
        "event_log_storage:\n"
        "  module: vipps_pipeline.instance.event_log\n"
        "  class: BatchingSqliteEventLogStorage\n"
        "  config:\n"
        f"    base_dir: {home.rstrip('/')}/history/runs/\n"
        "# Runs print INFO and above (Dagster's default, DEBUG, printed every step and check\n"
        "# event: thousands of lines a sync in the dev terminal); the UI shows every event.\n"
        "python_logs:\n"
        "  python_log_level: INFO\n"
        "telemetry:\n"
        "  enabled: false\n"
    )
