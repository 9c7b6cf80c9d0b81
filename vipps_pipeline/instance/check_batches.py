"""A batch of check evaluations stored in a few statements, on SQLite and PostgreSQL alike.

Dagster stores a check evaluation as three to four statements of its own (the event row, a row
in the index, an update of the run's planned execution row and, the update finding none, an
insert) and serialises the event twice. A sync evaluates four reconciliation groups and the
journal's check per ledger-day, so on the embedded default those statements were a quarter of a
first sync (20 ms per ledger-day; ``benchmarks/profile_sync.py``), and on PostgreSQL each is a
round trip.

Here a batch of one run's partitioned evaluations is stored as Dagster's ``store_event`` would
leave it, row for row: each event once in the event log (one multi-row insert), and per
(asset, check, partition) one execution row, the run's planned row updated where there is one
(one ``executemany``) and the others inserted (one multi-row insert). Anything else in a batch
goes through Dagster's own code, event by event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import dagster as dg
import sqlalchemy as db
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    SqlEventLogStorageTable,
)
from sqlalchemy.engine import Connection

EVALUATION = dg.DagsterEventType.ASSET_CHECK_EVALUATION


def one_run_evaluations(events: Sequence[dg.EventLogEntry]) -> bool:
    """Whether ``events`` are partitioned check evaluations of one run (what is batched)."""
    if not events or not events[0].run_id:
        return False
    return all(
        e.dagster_event is not None
        and e.dagster_event.event_type == EVALUATION
        and e.run_id == events[0].run_id
        and e.dagster_event.event_specific_data.partition is not None  # type: ignore[union-attr]
        for e in events
    )


def store_executions(
    conn: Connection,
    events: Sequence[dg.EventLogEntry],
    rows: Sequence[dict[str, Any]],
    ids: Sequence[int],
    timestamp: Callable[[dg.EventLogEntry], datetime],
) -> None:
    """The execution rows of evaluations whose events are stored under ``ids``.

    ``rows``: each event's row as stored in the event log (serialised once for both tables);
    ``timestamp``: the storage's own conversion of an event's time for its database."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for event, row, event_id in zip(events, rows, ids, strict=True):
        evaluation: dg.AssetCheckEvaluation = event.dagster_event.event_specific_data  # type: ignore[union-attr,assignment]
        target = evaluation.target_materialization_data
        status = (
            AssetCheckExecutionRecordStatus.SUCCEEDED
            if evaluation.passed
            else AssetCheckExecutionRecordStatus.FAILED
        )
        key = (evaluation.asset_key.to_string(), evaluation.check_name, evaluation.partition)
        latest[key] = {  # a later evaluation of the same partition in the batch wins, as in Dagster
            "asset_key": key[0],
            "check_name": key[1],
            "partition": key[2],
            "run_id": event.run_id,
            "execution_status": status.value,
            "evaluation_event": row["event"],
            "evaluation_event_timestamp": timestamp(event),
            "evaluation_event_storage_id": event_id,
            "materialization_event_storage_id": target.storage_id if target else None,
        }
    table = AssetCheckExecutionsTable
    found = conn.execute(
        db.select(table.c.id, table.c.asset_key, table.c.check_name, table.c.partition).where(
            table.c.run_id == events[0].run_id,
            table.c.partition.in_(sorted({k[2] for k in latest})),
        )
    ).fetchall()
    existing = {(r.asset_key, r.check_name, r.partition): r.id for r in found}
    updates = [
        {"row_id": existing[k], **{f"new_{n}": v for n, v in row.items() if n not in _KEY}}
        for k, row in latest.items()
        if k in existing
    ]
    inserts = [row for k, row in latest.items() if k not in existing]
    if updates:
        conn.execute(
            table.update()
            .where(table.c.id == db.bindparam("row_id"))
            .values({n: db.bindparam(f"new_{n}") for n in _UPDATED}),
            updates,
        )
    if inserts:
        conn.execute(table.insert(), inserts)


def insert_returning_ids(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """The events' rows inserted into the event log in one statement, and their ids in the
    order of ``rows``. An executemany (SQLAlchemy's "insertmanyvalues": one multi-row INSERT
    per batch, its compiled form cached) where ``insert().values(rows)`` compiled a statement
    with a bound parameter per value anew for every batch: 14 ms a batch in a sync's profile."""
    table = SqlEventLogStorageTable
    statement = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    inserted = conn.execute(statement, rows)
    return [int(row[0]) for row in inserted]


_KEY = ("asset_key", "check_name", "partition", "run_id")
_UPDATED = (
    "execution_status",
    "evaluation_event",
    "evaluation_event_timestamp",
    "evaluation_event_storage_id",
    "materialization_event_storage_id",
)
