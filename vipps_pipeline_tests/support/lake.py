"""The tables compared with the landing files, row for row; the child script that runs a ledger
to be killed."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vipps_pipeline.lake.tables import DAY_TABLES, table_rows

RUN_LEDGER = """
settings = PipelineSettings.from_env(os.environ)
client = ReportClient(ApiSettings.from_env(os.environ))
first, last = date(2026, 10, 1), date(2026, 11, 22)
dates = tuple(first + timedelta(days=k) for k in range((last - first).days + 1))
for event in lr.run_ledger(lr.Work("100001", dates), client=client, settings=settings,
                           breaker=lr.Breaker(3)):
    pass
"""
"""The end of a child script that runs ledger 100001 from October to 22 November through the
engine (its start imports os, date, timedelta, the client, the settings and ``engine as lr``,
and patches where the run is to be killed)."""


def landing_rows(data_dir: Path, kinds: tuple[str, ...], schema: pa.Schema) -> pa.Table:
    files = [
        p
        for kind in kinds
        for p in sorted((Path(data_dir) / kind).rglob("*.parquet"))
        if not p.name.startswith(".")
    ]
    if not files:
        return schema.empty_table()
    return pa.concat_tables([pq.read_table(p, schema=schema) for p in files])


def rows(table: pa.Table) -> list[str]:
    """Every row as text, sorted: a multiset to compare, duplicates kept."""
    return sorted(repr(r) for r in table.to_pylist())


def assert_tables_equal_landing(data_dir: Path) -> dict[str, int]:
    """Every ledger-day table holds exactly the landing files' rows; returns row counts."""
    counts = {}
    for spec in DAY_TABLES:
        want = rows(landing_rows(data_dir, spec.kinds, spec.schema))
        got = rows(table_rows(data_dir, spec.name))
        assert got == want, f"{spec.name}: {len(got)} rows in the table, {len(want)} landed"
        counts[spec.name] = len(got)
    return counts
