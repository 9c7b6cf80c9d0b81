"""Which tables there are, where they live, and how to open one (now or as it stood then).

A table's columns and Arrow types are those of its landing files (:mod:`~vipps_pipeline.store.
schemas`); entries of both topics share one table, as they share one query view. Every
ledger-day table is partitioned by ``ledger_id``: a ledger's commit then rewrites only its own
folder's files (a predicate replace on an unpartitioned, compacted table rewrites whole files
that hold other ledgers too), compaction bounds the files to a few per ledger, and questions
over all ledgers read one file per ledger (docs/tables.md has the measurements).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from vipps_pipeline.domain import TOPICS
from vipps_pipeline.store.objstore import DataDir, as_dir, is_remote
from vipps_pipeline.store.schemas import (
    FINDING_SCHEMA,
    JOURNAL_SCHEMA,
    LEDGER_SCHEMA,
    REPORT_SCHEMA,
    STATEMENT_SCHEMA,
)

if TYPE_CHECKING:
    from deltalake import DeltaTable

# no import of store.paths or settings here: `query` starts without pydantic
TABLES_FOLDER = "tables"
PARTITION_BY = ["ledger_id"]


@dataclass(frozen=True)
class TableSpec:
    """One table: its name (the query view's), the landing kinds it holds, its schema."""

    name: str
    kinds: tuple[str, ...]
    schema: pa.Schema
    partition_by: tuple[str, ...] = tuple(PARTITION_BY)


DAY_TABLES: tuple[TableSpec, ...] = (
    TableSpec("entries", tuple(f"reports/{t}" for t in TOPICS), REPORT_SCHEMA),
    TableSpec("statements", ("statements",), STATEMENT_SCHEMA),
    TableSpec("findings", ("reconciliation",), FINDING_SCHEMA),
    TableSpec("journal", ("journal",), JOURNAL_SCHEMA),
)
"""The ledger-day tables, each kept equal to its landing files by :mod:`.commit`."""

LEDGERS_TABLE = TableSpec("ledgers", (), LEDGER_SCHEMA, ())
"""The ledger list: one small table, replaced whole when the list is refreshed."""

ALL_TABLES = (*DAY_TABLES, LEDGERS_TABLE)


def table_uri(data_dir: DataDir, name: str) -> str:
    """``<data>/tables/<name>`` as delta-rs wants it: an absolute path or a URL."""
    root = as_dir(data_dir) / TABLES_FOLDER / name
    return str(root) if is_remote(root) else str(root.resolve())


def storage_options(data_dir: DataDir) -> dict[str, str]:
    """The object store's settings for delta-rs, from the ones the pipeline gives fsspec.

    The pipeline's data directory carries fsspec's options (VIPPS_STORAGE_OPTIONS, e.g.
    ``endpoint_url``, ``key``, ``secret``) and relies on the backend's environment
    (``AWS_*``); delta-rs takes object_store's keys. Keys already in that form pass as they
    are. On S3 commits use conditional puts (``If-None-Match``), the safe setting for writers
    of different ledgers committing to one table at once without a lock service.
    """
    import os

    data_dir = as_dir(data_dir)
    if not is_remote(data_dir):
        return {}
    given: dict[str, Any] = dict(getattr(data_dir, "storage_options", {}) or {})
    client = given.get("client_kwargs") or {}
    env_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    fsspec_keys = {
        "AWS_ENDPOINT_URL": given.get("endpoint_url") or client.get("endpoint_url") or env_endpoint,
        "AWS_ACCESS_KEY_ID": given.get("key"),
        "AWS_SECRET_ACCESS_KEY": given.get("secret"),
        "AWS_SESSION_TOKEN": given.get("token"),
        "AWS_REGION": client.get("region_name") or os.environ.get("AWS_DEFAULT_REGION"),
    }
    out = {k: str(v) for k, v in fsspec_keys.items() if v}
    out |= {k: str(v) for k, v in given.items() if k.isupper()}
    if str(data_dir).startswith("s3"):
        out.setdefault("AWS_CONDITIONAL_PUT", "etag")
        if out.get("AWS_ENDPOINT_URL", "").startswith("http://"):
            out.setdefault("AWS_ALLOW_HTTP", "true")
    return out


def open_table(
    data_dir: DataDir, name: str, as_of: datetime | int | None = None
) -> DeltaTable | None:
    """The table as it is (or as it stood at ``as_of``: a time or a version); None when it
    did not exist yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri, options = table_uri(data_dir, name), storage_options(data_dir)
    if isinstance(as_of, datetime) and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)  # the log's times are UTC
    try:
        if isinstance(as_of, int):
            return DeltaTable(uri, version=as_of, storage_options=options)
        table = DeltaTable(uri, storage_options=options)
    except TableNotFoundError:
        return None
    if as_of is not None:
        try:
            table.load_as_version(as_of)
        except Exception as exc:  # delta-rs says "no version at or before" as a plain error
            if "version" not in str(exc).lower():
                raise
            return None
        if table.version() == 0 and _first_commit(table) > as_of:
            return None  # delta-rs loads the first version for any earlier time
    return table


def _first_commit(table: DeltaTable) -> datetime:
    first = min(table.history(), key=lambda h: h["version"])
    return datetime.fromtimestamp(first["timestamp"] / 1000, UTC)


def spec(name: str) -> TableSpec:
    for table in ALL_TABLES:
        if table.name == name:
            return table
    raise ValueError(f"no table named {name!r}; tables: {[t.name for t in ALL_TABLES]}")


def table_rows(data_dir: DataDir, name: str, as_of: datetime | int | None = None) -> pa.Table:
    """A whole table with its landing files' schema (empty when it does not exist)."""
    schema = spec(name).schema
    table = open_table(data_dir, name, as_of)
    if table is None:
        return schema.empty_table()
    return conform(table.to_pyarrow_dataset().to_table(), schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Columns in the landing files' order and types (partition columns come last from
    delta-rs, and strings may come back as large or view types)."""
    return table.select(schema.names).cast(schema)
