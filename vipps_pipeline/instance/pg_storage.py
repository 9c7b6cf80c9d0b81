"""Dagster's PostgreSQL storage, keeping its database connections open between writes.

``DagsterPostgresStorage`` opens a new connection for every statement outside the webserver
(SQLAlchemy's ``NullPool``, so that idle instances hold no connections). A PostgreSQL
connection is a new server process: in a run that stores a ledger-day's materializations and
check evaluations, the connects were a quarter of the run's time and most of the database
server's CPU (1,745 connects, 7.7 s, for 120 ledger-days; B2 in ``benchmarks/RESULTS.md``).

This class is that storage with the pool Dagster's own webserver switches on
(``optimize_for_webserver``) for the run and event-log storages: one connection kept for
each, short-lived extra ones while threads overlap, recycled after ``pool_recycle`` seconds.
A process therefore holds up to two idle connections; size PostgreSQL's ``max_connections``
for two per run worker and daemon (the webserver pools anyway; docs/operations.md).
Tables, queries and migrations are Dagster's: a database written with or without it reads
the same, and ``storage: postgres`` can be swapped back at any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg
from dagster._config import Field, IntSource
from dagster._core.storage.base_storage import DagsterStorage
from dagster._serdes import ConfigurableClassData
from dagster_postgres import (
    DagsterPostgresStorage,
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)
from dagster_postgres.utils import get_token_provider_from_config, pg_config, pg_url_from_config

from vipps_pipeline.instance import check_batches

POOL_RECYCLE_SECONDS = 3600
"""Dagster's webserver default: a connection older than this is replaced at its next use."""

MAX_OVERFLOW = 20
"""Dagster's webserver default: extra connections a storage may open while threads overlap
(the daemon's), closed again after use."""


class _Pooled:
    """Holds a pooled engine from the start and closes its connections on ``dispose``
    (Dagster's storages leave disposing the engine to garbage collection)."""

    _engine: Any

    def _pool(self, pool_recycle: int, max_overflow: int) -> None:
        # statement_timeout 0 is PostgreSQL's default (none): a run's writes are never cut
        # off. The webserver still sets its own timeout when it optimizes the instance.
        self.optimize_for_webserver(0, pool_recycle, max_overflow)  # type: ignore[attr-defined]

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engine.dispose()


class PooledRunStorage(_Pooled, PostgresRunStorage):
    pass


class PooledEventLogStorage(_Pooled, PostgresEventLogStorage):
    stores_check_batches = True
    """Read by the recorder: check evaluations may be sent as a batch to this storage."""

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        """Dagster's batch write, and one for check evaluations, which Dagster's refuses
        (:mod:`vipps_pipeline.instance.check_batches`)."""
        if not check_batches.one_run_evaluations(events):
            super().store_event_batch(events)
            return
        rows = [self._event_to_row(event) for event in events]
        with self.index_transaction() as conn:
            ids = check_batches.insert_returning_ids(conn, rows)
            check_batches.store_executions(conn, events, rows, ids, self._event_insert_timestamp)


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` with a connection pool in every process, not only the
    webserver. Configured under ``storage: custom`` in ``deploy/dagster.yaml``."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
        pool_recycle: int = POOL_RECYCLE_SECONDS,
        max_overflow: int = MAX_OVERFLOW,
    ) -> None:
        # What DagsterPostgresStorage.__init__ does, with the pooled classes.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        args = (postgres_url, should_autocreate_tables)
        self._run_storage = PooledRunStorage(*args, token_provider=token_provider)
        self._event_log_storage = PooledEventLogStorage(*args, token_provider=token_provider)
        # Schedules and sensor ticks keep Dagster's connect-per-statement: a run does not write
        # them, and DagsterInstance.dispose never disposes a schedule storage, so a pool there
        # would hold its connection until the process exits.
        self._schedule_storage = PostgresScheduleStorage(*args, token_provider=token_provider)
        for storage in (self._run_storage, self._event_log_storage):
            storage._pool(pool_recycle, max_overflow)
        DagsterStorage.__init__(self)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **pg_config(),
            "pool_recycle": Field(IntSource, is_required=False, default_value=POOL_RECYCLE_SECONDS),
            "max_overflow": Field(IntSource, is_required=False, default_value=MAX_OVERFLOW),
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> PooledPostgresStorage:
        return cls(
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
            pool_recycle=config_value["pool_recycle"],
            max_overflow=config_value["max_overflow"],
        )
