"""Dagster's SQLite event log, storing a batch of events in one transaction per database.

Dagster batches event writes (``DAGSTER_EVENT_BATCH_SIZE``) but only PostgreSQL and MySQL act
on it, and only for materializations: SQLite stores a batch event by event, and each event
costs three to five commits (a disk flush each) across the run's database and the index. A
ledger-day is five materializations and four check evaluations, so on the embedded default
those commits were most of what Dagster added to a backfill.

This class stores a batch with Dagster's own ``store_event``, event by event, the same rows in
the same order, but every connection it opens during the batch is kept open in one
transaction, committed when the batch ends: two commits per batch instead of three to five
per event. If anything fails the batch rolls back and Dagster stores its events one by one.

The embedded default's ``dagster.yaml`` (written by ``vipps-pipeline``, see
``headless.dagster_home``) selects it; the layout on disk is Dagster's default, so a home
written with or without it reads the same.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose ``store_event_batch`` commits once per database."""

    stores_check_batches = True
    """Read by the recorder: check evaluations may be sent as a batch to this storage."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._batch = threading.local()  # before the parent's set-up, which connects
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
                for event in events:
                    self.store_event(event)
            finally:
                self._batch.stack = self._batch.connections = None

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        connections = getattr(self._batch, "connections", None)
        if connections is None:
            with super()._connect(shard) as conn:
                yield conn
            return
        if shard not in connections:
            connections[shard] = self._batch.stack.enter_context(self._open(shard))
        yield connections[shard]

    @contextmanager
    def _open(self, shard: str) -> Iterator[Connection]:
        """What ``SqliteEventLogStorage._connect`` opens, held until the batch ends."""
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=NullPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        with self._db_lock:
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        try:
            with engine.connect() as conn, conn.begin():
                yield conn
        finally:
            engine.dispose()


def dagster_yaml(home: str) -> str:
    """The embedded default's instance settings: Dagster's SQLite layout under ``home``, with
    the batching event log, and no telemetry."""
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
        "telemetry:\n"
        "  enabled: false\n"
    )
