"""Ask the stored data in SQL: DuckDB views over the Parquet datasets.

Views: ``entries`` (every report entry, both topics), ``statements``, ``findings``,
``journal`` and ``ledgers``. Each is a plain ``read_parquet`` over its folder, so a question
reads only the files and columns it needs; a dataset with no files yet is an empty view with
the right columns, so questions never fail just because nothing is stored.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
from babel.numbers import get_currency_precision, list_currencies

from vipps_pipeline.domain import Status
from vipps_pipeline.settings import SettingsError
from vipps_pipeline.store.objstore import as_dir, is_remote
from vipps_pipeline.store.schemas import (
    FINDING_SCHEMA,
    JOURNAL_SCHEMA,
    LEDGER_SCHEMA,
    REPORT_SCHEMA,
    STATEMENT_SCHEMA,
)

DAY_FILE = "[0-9][0-9][0-9][0-9]/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].parquet"
"""``<yyyy>/<yyyy-mm-dd>.parquet``: only the layout's own files. A stray ``notes.parquet`` or
a copy someone left beside the days would otherwise be read too (and break every question
when its columns differ); DuckDB's and Python's globs both understand the classes."""

VIEWS: dict[str, tuple[str, pa.Schema]] = {
    "entries": (f"reports/*/*/{DAY_FILE}", REPORT_SCHEMA),
    "statements": (f"statements/*/{DAY_FILE}", STATEMENT_SCHEMA),
    "findings": (f"reconciliation/*/{DAY_FILE}", FINDING_SCHEMA),
    "journal": (f"journal/*/{DAY_FILE}", JOURNAL_SCHEMA),
    "ledgers": ("ledgers.parquet", LEDGER_SCHEMA),
}


def connect(data_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per dataset under ``data_dir``."""
    data_dir = as_dir(data_dir)
    if is_remote(data_dir):
        # DuckDB reads S3 through its own httpfs extension and credentials, not fsspec's
        raise SettingsError(
            f"query reads a local data directory only, not {data_dir}: copy the data down "
            "first (e.g. `aws s3 sync`) and pass --data-dir"
        )
    root = Path(data_dir).resolve()
    con = duckdb.connect()
    for name, (pattern, schema) in VIEWS.items():
        if any(root.glob(pattern)):
            path = str(root / pattern).replace("'", "''")
            con.execute(
                f"create view {name} as select * from read_parquet('{path}', union_by_name=true)"
            )
        else:
            con.register(f"_{name}_empty", schema.empty_table())
            con.execute(f"create view {name} as select * from _{name}_empty")
    # major(amount, currency): minor units as a decimal in the currency's major unit
    odd = {c: d for c in sorted(list_currencies()) if (d := get_currency_precision(c)) != 2}
    cases = " ".join(f"when '{c}' then {d}" for c, d in odd.items())
    con.execute(
        f"create macro major(amount, cur) as amount / power(10, case cur {cases} else 2 end)"
    )
    return con


def run(data_dir: str | Path, sql: str, as_csv: bool = False, out: TextIO | None = None) -> int:
    """Print the answer as a table (or CSV); returns the number of rows. ``out`` defaults to
    the ``sys.stdout`` of the moment of the call (not of the import), which a caller may
    have redirected since."""
    out = out or sys.stdout
    con = connect(data_dir)
    relation = con.sql(sql)
    if relation is None:  # a statement without rows, e.g. "set ..."
        return 0
    table = relation.arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    if as_csv:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        out.write(sink.getvalue().to_pybytes().decode())
    else:
        if table.num_rows == 0:
            out.write("  ".join(table.column_names) + "\n")
        else:
            out.write(table.to_pandas().to_string(index=False, max_rows=200) + "\n")
        out.write(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})\n")
    return table.num_rows


QUESTIONS: dict[str, str] = {
    "fees paid per month": (
        "select ledger_id, currency, date_trunc('month', ledger_date) as month, "
        "-major(sum(amount), currency) as fees from entries "
        "where topic = 'fees' and entry_type in ('capture-fee', 'service-fee') "
        "group by 1, 2, 3 order by ledger_id, month"
    ),
    "refunds over 1,000 NOK": (
        "select ledger_id, ledger_date, psp_reference, reference, "
        "-major(amount, currency) as refunded "
        "from entries where entry_type = 'refund' and currency = 'NOK' and amount < -100000 "
        "order by refunded desc"
    ),
    "days that failed a check": (
        'select ledger_id, ledger_date, "check", topic, detail from findings '
        f"where status = '{Status.FAIL}' order by ledger_id, ledger_date"
    ),
    "payouts per month": (
        "select ledger_id, currency, date_trunc('month', ledger_date) as month, "
        "major(sum(payout_amount), currency) as paid_out, count(payout_amount) as payouts "
        "from statements "
        "where topic = 'funds' group by 1, 2, 3 order by ledger_id, month"
    ),
    "journal balance per account": (
        "select account, account_name, currency, "
        "major(sum(debit) - sum(credit), currency) as balance "
        "from journal group by 1, 2, 3 order by account"
    ),
}
"""Accountants' questions, answered in docs/accounting.md; tests run every one."""
