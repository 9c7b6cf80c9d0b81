"""Ask the stored data in SQL: DuckDB views over the Delta tables.

Views: ``entries`` (every report entry, both topics), ``statements``, ``findings``,
``journal`` (with the payouts posted to the bank) and ``ledgers``, each the files of its Delta
table (:mod:`vipps_pipeline.lake`), a few per ledger however many days are stored; and from the
bank statements ``payouts`` and ``bank_lines`` (one small file each, docs/bank.md). A question
reads only the files and columns it needs; a table not written yet is an empty view with the
right columns, so questions never fail just because nothing is stored.
"""

from __future__ import annotations

import csv
import difflib
import re
import sys
from collections.abc import Collection, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import duckdb
import pyarrow as pa
from babel.numbers import list_currencies

from vipps_pipeline.domain import Status, currency_digits
from vipps_pipeline.lake.tables import ALL_TABLES, open_table
from vipps_pipeline.store import objstore
from vipps_pipeline.store.objstore import as_dir, is_remote
from vipps_pipeline.store.schemas import BANK_LINE_STATUS_SCHEMA, PAYOUT_MATCH_SCHEMA

if TYPE_CHECKING:
    from deltalake import DeltaTable

MAJOR_SCALE = 4
"""The scale of ``major()``'s DECIMAL: the most digits any currency has (CLF, UYW), so every
currency's amount is exact in one column type; tables and CSV then show each row with its own
currency's digits."""
TABLE_ROWS = 200
"""Rows a printed table shows; ``--csv`` prints them all."""
SQL_WORDS = frozenset(
    [
        "select",
        "with",
        "from",
        "values",
        "table",
        "describe",
        "show",
        "summarize",
        "pivot",
        "unpivot",
        "explain",
        "pragma",
        "set",
        "reset",
        "create",
        "copy",
        "call",
        "install",
        "load",
        "attach",
        "detach",
        "export",
        "import",
        "drop",
        "insert",
        "update",
        "delete",
        "alter",
        "comment",
        "use",
        "checkpoint",
        "begin",
        "commit",
        "rollback",
        "vacuum",
        "analyze",
        "prepare",
        "execute",
        "deallocate",
    ]
)
"""Words an SQL statement starts with: anything else is taken for a question's name."""


class UnknownQuestion(ValueError):
    """Text that is neither SQL nor a ready-made question's name: a typo, said as one."""


VIEWS: dict[str, tuple[str, pa.Schema]] = {t.name: (t.name, t.schema) for t in ALL_TABLES}
"""View name -> (its table under ``<data>/tables/``, its columns)."""

BANK_VIEWS: dict[str, tuple[str, pa.Schema]] = {
    "payouts": ("bank/matches/payouts.parquet", PAYOUT_MATCH_SCHEMA),
    "bank_lines": ("bank/matches/lines.parquet", BANK_LINE_STATUS_SCHEMA),
}
"""View name -> (its file under ``<data>/``, its columns): what bank matching decided."""
BANK_JOURNAL = "bank/journal"
"""The payouts posted to the bank, one file per ledger, shown in the ``journal`` view too."""


def sql_type(t: pa.DataType) -> str:
    """The DuckDB type of a stored column. Said in SQL rather than by registering an empty
    Arrow table, because DuckDB imports pandas (half a second) to look at any Python object."""
    if pa.types.is_list(t):
        return f"{sql_type(t.value_type)}[]"
    if pa.types.is_map(t):
        return f"MAP({sql_type(t.key_type)}, {sql_type(t.item_type)})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    simple = {
        pa.string(): "VARCHAR",
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
    }
    if t not in simple:
        raise TypeError(f"no DuckDB type for the stored type {t}")
    return simple[t]


def empty_select(schema: pa.Schema) -> str:
    """A SELECT with ``schema``'s columns and no rows: the view of a dataset not stored yet."""
    columns = ", ".join(f'cast(null as {sql_type(f.type)}) as "{f.name}"' for f in schema)
    return f"select {columns} where false"


def connect(
    data_dir: str | Path, as_of: datetime | None = None, only: Collection[str] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per table under ``data_dir`` (local or on an object
    store, read with the pipeline's storage options); ``as_of``: every table as it stood then,
    for reproducing an earlier close; ``only``: just these tables' views (each table opened is
    its log read, a request per log file on an object store; :func:`run` opens those its SQL
    names)."""
    con = duckdb.connect()
    remote = is_remote(as_dir(data_dir))
    for name, (table_name, schema) in VIEWS.items():
        if only is not None and name not in only:
            continue
        table = open_table(data_dir, table_name, as_of)
        columns = ", ".join(f'"{c}"' for c in schema.names)
        files = table.file_uris() if table is not None and not remote else []
        if table is None or not (remote or files):  # not written (then): empty, its columns
            con.execute(f"create view {name} as {empty_select(schema)}")
        elif remote:  # through the table's Arrow dataset: no DuckDB extension needed
            con.register(f"delta_{name}", table.to_pyarrow_dataset())
            con.execute(f"create view {name} as select {columns} from delta_{name}")
        else:
            con.execute(f"create view {name} as select {columns} from {_scan(table, files)}")
    _bank_views(con, as_dir(data_dir), with_journal=only is None or "journal" in only)
    # major(amount, cur): minor units as an exact DECIMAL in the currency's major unit
    odd = " ".join(f"when '{c}' then {d}" for c, d in sorted(_odd_digits().items()))
    con.execute(f"create macro currency_digits(cur) as case cur {odd} else 2 end")
    con.execute(
        f"create macro major(amount, cur) as cast(cast(amount as decimal(38, {MAJOR_SCALE})) "
        "* case currency_digits(cur) when 0 then 1.0 when 1 then 0.1 when 2 then 0.01 "
        f"when 3 then 0.001 else 0.0001 end as decimal(38, {MAJOR_SCALE}))"
    )
    return con


def _scan(table: DeltaTable, files: list[str]) -> str:
    """The snapshot's data files read by DuckDB itself (its own Parquet reader, without
    loading pyarrow's datasets and pandas into a `query`); Delta keeps partition values in the
    folder names (``ledger_id=100001/``), read back as text."""
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    partitions = table.metadata().partition_columns
    hive = ", ".join(f"'{c}': 'VARCHAR'" for c in partitions)
    options = f", hive_partitioning = true, hive_types = {{{hive}}}" if partitions else ""
    return f"read_parquet([{listed}]{options})"


def _bank_views(con: duckdb.DuckDBPyConnection, root, with_journal: bool) -> None:
    """The bank matching's two files as views, and the journal view widened by the payouts
    posted to the bank. Small files: on an object store they are read whole."""
    for name, (rel, schema) in BANK_VIEWS.items():
        path = root / rel
        if not path.exists():
            con.execute(f"create view {name} as {empty_select(schema)}")
        elif is_remote(root):
            con.register(f"bank_{name}", objstore.read_table(path, schema=schema))
            con.execute(f"create view {name} as select * from bank_{name}")
        else:
            con.execute(f"create view {name} as select * from read_parquet({_quoted(path)})")
    wanted = with_journal and not is_remote(root)  # the journal view, when it was made
    posted = sorted((root / BANK_JOURNAL).glob("*.parquet")) if wanted else []
    if posted:
        columns = ", ".join(f'"{c}"' for c in VIEWS["journal"][1].names)
        listed = ", ".join(_quoted(p) for p in posted)
        con.execute("alter view journal rename to journal_ledger_days")
        con.execute(
            f"create view journal as select {columns} from journal_ledger_days union all "
            f"select {columns} from read_parquet([{listed}])"
        )


def _quoted(path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@cache
def _odd_digits() -> dict[str, int]:
    """Currencies whose minor unit is not a hundredth (JPY 0, KWD 3, ...), from babel."""
    return {c: d for c in list_currencies() if (d := currency_digits(c)) != 2}


def cell(value: object, digits: int | None) -> str:
    """One value as printed: a DECIMAL with its row's currency digits (when that loses
    nothing), dates in ISO form, NULL as nothing; never through floating point."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        if digits is not None and value == (shown := value.quantize(Decimal(1).scaleb(-digits))):
            return f"{shown:f}"
        return f"{value:f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def text_rows(table: pa.Table) -> list[list[str]]:
    """Every row as text; a ``currency`` column sets the digits of that row's decimals."""
    names = table.column_names
    currency_at = names.index("currency") if "currency" in names else None
    rows = []
    for values in zip(*(c.to_pylist() for c in table.columns), strict=True):
        digits = None
        if currency_at is not None and isinstance(values[currency_at], str):
            digits = currency_digits(values[currency_at])
        rows.append([cell(v, digits) for v in values])
    return rows


def print_table(table: pa.Table, rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Columns padded to their widest value, numbers right-aligned, the rest left: the first
    ``TABLE_ROWS`` of ``rows`` (which may hold only those), then how many of the table's
    rows were left out."""
    names = table.column_names
    numeric = [
        pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_floating(t)
        for t in table.schema.types
    ]
    shown = list(rows[:TABLE_ROWS])
    widths = [max([len(n), *(len(r[i]) for r in shown)]) for i, n in enumerate(names)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out.write("\n".join([line(names), *(line(r) for r in shown)]) + "\n")
    total = table.num_rows
    if total > TABLE_ROWS:
        out.write(f"... {total - TABLE_ROWS} more rows (--csv prints them all)\n")
    out.write(f"({total} row{'s' if total != 1 else ''})\n")


def named_tables(sql: str) -> set[str]:
    """The tables whose names appear in ``sql`` as words: a superset of those it reads (a
    column or a string of the same name opens a table for nothing), so no view it needs is
    missing; a table it does not name is never opened."""
    words = set(re.findall(r"[a-z_]+", sql.lower()))
    return {name for name in VIEWS if name in words}


def resolve(text: str) -> str:
    """A question's SQL by its name, SQL as it is; a name nobody knows raises
    :class:`UnknownQuestion` naming it and the known ones, not a DuckDB parser error."""
    if text in QUESTIONS:
        return QUESTIONS[text]
    words = text.strip().lstrip("(").split(maxsplit=1)
    if words and words[0].lower() in SQL_WORDS:
        return text
    close = difflib.get_close_matches(text, QUESTIONS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = ", ".join(repr(q) for q in QUESTIONS)
    raise UnknownQuestion(
        f"{text!r} is neither SQL nor a known question{hint}; known questions: {known}"
    )


def run(
    data_dir: str | Path,
    sql: str,
    as_csv: bool = False,
    out: TextIO | None = None,
    as_of: datetime | None = None,
) -> int:
    """Print the answer as a table (or CSV); returns the number of rows. ``out`` defaults to
    the ``sys.stdout`` of the moment of the call (not of the import), which a caller may
    have redirected since; ``as_of``: from the tables as they stood then."""
    out = out or sys.stdout
    relation = connect(data_dir, as_of, only=named_tables(sql)).sql(sql)
    if relation is None:  # a statement without rows, e.g. "set ..."
        return 0
    table = relation.arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    if as_csv:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows(text_rows(table))
    else:  # only the rows shown are turned into text (B6: 98,333 refunds took 1.3 s)
        print_table(table, text_rows(table.slice(0, TABLE_ROWS)), out)
    return table.num_rows


QUESTIONS: dict[str, str] = {
    "fees paid per month": (
        "select ledger_id, currency, cast(date_trunc('month', ledger_date) as date) as month, "
        "-major(sum(amount), currency) as fees from entries "
        "where topic = 'fees' and entry_type in ('capture-fee', 'service-fee') "
        "group by 1, 2, 3 order by ledger_id, month"
    ),
    "refunds over 1,000 NOK": (
        "select ledger_id, ledger_date, psp_reference, reference, "
        "-major(amount, currency) as refunded, currency "
        "from entries where entry_type = 'refund' and currency = 'NOK' and amount < -100000 "
        "order by refunded desc"
    ),
    "days that failed a check": (
        'select ledger_id, ledger_date, "check", topic, detail from findings '
        f"where status = '{Status.FAIL}' order by ledger_id, ledger_date"
    ),
    "payouts per month": (
        # only the days with a payout: a quiet day has no currency, and a ledger that paid
        # nothing that month is no payout
        "select ledger_id, currency, cast(date_trunc('month', ledger_date) as date) as month, "
        "major(sum(payout_amount), currency) as paid_out, count(*) as payouts "
        "from statements where topic = 'funds' and payout_amount is not null "
        "group by 1, 2, 3 order by ledger_id, month"
    ),
    "payouts not seen in the bank": (
        "select ledger_id, ledger_date, psp_reference, major(amount, currency) as amount, "
        "currency, status, due_date from payouts where status in "
        "('missing', 'amount_differs', 'in_transit', 'not_covered') "
        "order by ledger_id, ledger_date"
    ),
    "journal lines for import": (
        # with --csv, the period's journal for an accounting system, read from the journal
        # table (the per-day CSV files under journal-csv/ hold the same lines a day at a time)
        "select ledger_id, ledger_date as date, voucher, account, account_name, text, "
        "case when debit <> 0 then major(debit, currency) end as debit, "
        "case when credit <> 0 then major(credit, currency) end as credit, currency "
        "from journal order by ledger_id, ledger_date, voucher, line"
    ),
    "journal balance per account": (
        "select account, account_name, currency, "
        "major(sum(debit) - sum(credit), currency) as balance "
        "from journal group by 1, 2, 3 order by account"
    ),
}
"""Accountants' questions, answered in docs/accounting.md; tests run every one."""
