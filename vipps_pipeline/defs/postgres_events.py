"""Dagster's PostgreSQL event log, storing a batch of check evaluations on one connection.

Dagster stores a batch of materializations in one statement on PostgreSQL, but check
evaluations one by one, each on new connections (the storage holds none open): two to three
connections and five to seven commits per evaluation. A ledger-day has four. This class keeps
Dagster's batch path for materializations and, for any other batch, stores the events with
Dagster's own ``store_event`` on one connection in one transaction: the same rows, one commit.
If anything fails the batch rolls back and Dagster stores its events one by one.

deploy/dagster.yaml selects it (``event_log_storage``); it needs the ``postgres`` extra.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log.event_log import PostgresEventLogStorage
from dagster_postgres.utils import (
    create_pg_connection,
    get_token_provider_from_config,
    pg_url_from_config,
)
from sqlalchemy.engine import Connection

NATIVE = ({DagsterEventType.ASSET_MATERIALIZATION}, {DagsterEventType.ASSET_OBSERVATION})
"""Batches Dagster already stores in one statement."""


class BatchingPostgresEventLogStorage(PostgresEventLogStorage):
    """``PostgresEventLogStorage`` that stores any batch in one transaction."""

    stores_check_batches = True
    """Read by the recorder: check evaluations may be sent as a batch to this storage."""

    def __init__(self, postgres_url: str, **kwargs: Any) -> None:
        self._batch = threading.local()  # before the parent's set-up, which connects
        super().__init__(postgres_url, **kwargs)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchingPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        if {e.dagster_event_type for e in events} in NATIVE:
            super().store_event_batch(events)
            return
        with create_pg_connection(self._engine) as conn:
            conn = conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                self._batch.conn = conn
                try:
                    for event in events:
                        self.store_event(event)
                finally:
                    self._batch.conn = None

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        held = getattr(self._batch, "conn", None)
        if held is not None:
            yield held
            return
        with super()._connect() as conn:
            yield conn
