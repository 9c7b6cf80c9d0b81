"""Reading many stored days of one ledger as one table.

A statement, a reconciliation window or a journal rebuild reads a run of days at once. One
multi-threaded dataset scan over the stored files is far faster than a read per file (a year is
365 files per topic), and on an object store one listing per year replaces a request per day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.store import objstore
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.paths import kind_path, ledger_folder

if TYPE_CHECKING:
    import pyarrow.dataset as ds

Memory = Callable[[str, date], pa.Table | None]
"""The rows of (kind, day) as the file holds them now, when already in memory (else None)."""


def read_days(
    data_dir: DataDir,
    kind: str,
    ledger_id: str,
    dates: Iterable[date],
    schema: pa.Schema,
    columns: list[str] | None = None,
    memory: Memory | None = None,
) -> tuple[pa.Table, set[date]]:
    """Concatenate the stored files of ``dates``; returns the table and which dates were stored.

    ``kind`` is ``reports/funds``, ``reports/fees``, ``statements`` or ``reconciliation``.
    ``memory``: days whose rows the caller holds (a sync's chunk, just written) are taken from
    it instead of read back; the rows come in date order either way.
    """
    dates = list(dates)
    held = {d: t for d in dates if memory is not None and (t := memory(kind, d)) is not None}
    rest = [d for d in dates if d not in held]
    table, stored = _read_files(data_dir, kind, ledger_id, rest, schema, columns)
    if held:
        parts = [t if t.schema == schema else t.cast(schema) for t in held.values()]
        table = pa.concat_tables([*(t.select(columns) if columns else t for t in parts), table])
        if "ledger_date" in table.column_names:  # stable: a day keeps its rows' order
            table = table.take(pc.sort_indices(table["ledger_date"]))
        stored |= set(held)
    return table, stored


def _read_files(
    data_dir: DataDir,
    kind: str,
    ledger_id: str,
    dates: list[date],
    schema: pa.Schema,
    columns: list[str] | None,
) -> tuple[pa.Table, set[date]]:
    files, stored = stored_files(data_dir, kind, ledger_id, dates, schema)
    if files is None:
        empty = schema.empty_table()
        return (empty.select(columns) if columns else empty), stored
    return files.to_table(columns=columns), stored


def stored_files(
    data_dir: DataDir, kind: str, ledger_id: str, dates: list[date], schema: pa.Schema
) -> tuple[ds.Dataset | None, set[date]]:
    """The stored files of ``dates`` as one dataset (None when none is stored), and which dates
    were stored: a caller that cannot hold the rows at once reads the dataset in batches."""
    stored: set[date] = set()
    if dates and objstore.is_remote(objstore.as_dir(data_dir)):
        folder = ledger_folder(data_dir, kind, ledger_id)
        years = sorted({f"{d:%Y}" for d in dates})
        listed = {f"{y}/{name}" for y in years for name in objstore.list_files(folder / y)}
        stored = {d for d in dates if f"{d:%Y}/{d.isoformat()}.parquet" in listed}
    elif dates:
        stored = {d for d in dates if kind_path(data_dir, kind, ledger_id, d).exists()}
    paths = [kind_path(data_dir, kind, ledger_id, d) for d in dates if d in stored]
    if not paths:
        return None, stored
    return objstore.dataset(paths, format="parquet", schema=schema), stored
