"""The few pieces of Dagster's private event API the definitions need, behind small functions.

Dagster 1.13 has no public way to send materializations or check evaluations in batches (one
statement per batch on PostgreSQL, see ``vipps_pipeline.defs.recording``), to tie a check
evaluation to the materialization it judges from inside an op, or to tell a planned check
evaluation from a finished one. Keeping those imports here means a Dagster upgrade that moves
them breaks one module, named in the traceback, instead of every concern's definitions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC

import dagster as dg
import sqlalchemy as db
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as CheckTarget,
)
from dagster._core.events import DagsterEventBatchMetadata, generate_event_batch_id
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

__all__ = [
    "CheckTarget",
    "check_evaluation_batch",
    "check_target",
    "check_targets",
    "is_planned",
    "latest_plans",
    "materialization_batch",
]


def check_target(record: dg.EventLogRecord) -> CheckTarget:
    """What a check evaluation judges: without it the UI shows the evaluation as stale."""
    return CheckTarget(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )


def check_targets(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: Sequence[str]
) -> dict[str, CheckTarget]:
    """The latest materialization of each of ``partitions``, as a check evaluation targets it.

    On a SQL event log (SQLite, PostgreSQL) three columns of the index, read in one query:
    Dagster's ``fetch_materializations`` reads and decodes every matching event whole, which
    cost a first sync 30 ms per chunk and asset. Elsewhere, Dagster's records."""
    storage = instance.event_log_storage
    if not partitions:
        return {}
    if not isinstance(storage, SqlEventLogStorage):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=list(partitions)),
            limit=len(partitions) * 10 + 100,
        ).records
        out: dict[str, CheckTarget] = {}
        for record in records:  # newest first
            out.setdefault(record.partition_key or "", check_target(record))
        return out
    table = SqlEventLogStorageTable
    query = (
        db.select(table.c.id, table.c.run_id, table.c.timestamp, table.c.partition)
        .where(
            table.c.asset_key == asset_key.to_string(),
            table.c.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION.value,
            table.c.partition.in_(sorted(set(partitions))),
        )
        .order_by(table.c.id.asc())
    )
    with storage.index_connection() as conn:
        rows = conn.execute(query).fetchall()
    return {  # ascending ids: the newest of each partition is the last written
        row.partition: CheckTarget(
            storage_id=row.id,
            run_id=row.run_id,
            timestamp=row.timestamp.replace(tzinfo=UTC).timestamp(),
        )
        for row in rows
    }


def latest_plans(
    instance: dg.DagsterInstance, checks: Sequence[dg.AssetCheckKey], partitions: Sequence[str]
) -> list[tuple[str, str]]:
    """(partition, run id) of each check and partition whose latest execution is only planned.

    On a SQL event log one query over the execution table: Dagster's
    ``get_asset_check_partition_info`` also joins every partition's latest materialization,
    which cost a first sync 47 ms per chunk and check. Elsewhere, Dagster's answer."""
    storage = instance.event_log_storage
    if not checks or not partitions:
        return []
    if not isinstance(storage, SqlEventLogStorage):
        infos = storage.get_asset_check_partition_info(list(checks), partition_keys=partitions)
        return [
            (info.partition_key, info.latest_planned_run_id or "")
            for info in infos
            if info.partition_key is not None and is_planned(info.latest_execution_status)
        ]
    table, wanted = AssetCheckExecutionsTable, sorted(set(partitions))
    out = []
    for asset_key in sorted({c.asset_key for c in checks}, key=lambda k: k.to_string()):
        names = sorted(c.name for c in checks if c.asset_key == asset_key)
        query = (
            db.select(
                table.c.check_name, table.c.partition, table.c.run_id, table.c.execution_status
            )
            .where(
                table.c.asset_key == asset_key.to_string(),
                table.c.check_name.in_(names),
                table.c.partition.in_(wanted),
                table.c.evaluation_event_storage_id.isnot(None),  # as Dagster's query
            )
            .order_by(table.c.id.asc())
        )
        with storage.index_connection() as conn:
            rows = conn.execute(query).fetchall()
        latest = {(r.check_name, r.partition): r for r in rows}  # ascending ids: the last wins
        planned = AssetCheckExecutionRecordStatus.PLANNED.value
        out += [(r.partition, r.run_id) for r in latest.values() if r.execution_status == planned]
    return out


def is_planned(status: object) -> bool:
    """Whether a check's latest execution is only planned (its run has not evaluated it yet)."""
    return status == AssetCheckExecutionRecordStatus.PLANNED


def materialization_batch(
    context: dg.OpExecutionContext, materializations: Sequence[dg.AssetMaterialization]
) -> Iterator[dg.DagsterEvent]:
    """One step's materializations as one event-log batch, stored when its last is yielded."""
    step, batch = context.get_step_execution_context(), generate_event_batch_id()
    for i, m in enumerate(materializations):
        end = DagsterEventBatchMetadata(batch, i == len(materializations) - 1)
        yield dg.DagsterEvent.asset_materialization(step, m, end)


def check_evaluation_batch(
    context: dg.OpExecutionContext, evaluations: Sequence[dg.AssetCheckEvaluation]
) -> Iterator[dg.DagsterEvent]:
    """Check evaluations as one event-log batch, with the log message Dagster gives one
    evaluation yielded on its own."""
    step, batch = context.get_step_execution_context(), generate_event_batch_id()
    for i, evaluation in enumerate(evaluations):
        yield dg.DagsterEvent.from_step(
            dg.DagsterEventType.ASSET_CHECK_EVALUATION,
            step,
            evaluation,
            message=f"Asset check '{evaluation.check_name}' on "
            f"'{evaluation.asset_key.to_user_string()}' "
            + ("passed." if evaluation.passed else "did not pass."),
            batch_metadata=DagsterEventBatchMetadata(batch, i == len(evaluations) - 1),
        )
