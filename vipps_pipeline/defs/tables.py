"""Tabular metadata: rows of dicts as a table the UI sorts and filters, not hand-built markdown.

Cells keep numbers and booleans as they are (so they sort as numbers); anything else (dates,
lists) is shown as its text, since a table cell holds only scalars.
"""

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from vipps_pipeline.books.checks.terms import finding_in_words

FINDING_COLUMNS = ["check", "topic", "status", "expected", "actual", "detail"]

_Cell = str | int | float | bool | None
_TYPES: tuple[tuple[type, str], ...] = ((bool, "bool"), (int, "int"), (float, "float"))


def _cell(value: object) -> _Cell:
    if isinstance(value, str):  # a StrEnum (a check's Status) is stored as its plain text
        return str(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    return str(value)


def _column_type(cells: Iterable[_Cell]) -> str:
    """The narrowest type every present cell has (bool before int: a bool is an int)."""
    present = [c for c in cells if c is not None]
    for kind, name in _TYPES:
        if present and all(
            isinstance(c, kind) and (kind is bool or not isinstance(c, bool)) for c in present
        ):
            return name
    return "string"


def table(
    rows: Iterable[Mapping[str, object]],
    columns: Sequence[str],
    descriptions: Mapping[str, str] | None = None,
) -> dg.TableMetadataValue:
    """``rows`` as a metadata table of ``columns`` (a missing key is an empty cell);
    ``descriptions`` say what a column's values mean where the name does not (units, zone)."""
    data = [{c: _cell(row.get(c)) for c in columns} for row in rows]
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(
                c, _column_type(d[c] for d in data), description=(descriptions or {}).get(c)
            )
            for c in columns
        ]
    )
    return dg.MetadataValue.table(records=[dg.TableRecord(d) for d in data], schema=schema)


def findings_table(
    rows: Iterable[Mapping[str, object]], currency: str | None
) -> dg.TableMetadataValue:
    """Findings as a table whose ``expected`` and ``actual`` say what they are and in which
    unit ("the previous date's closing balance: 1234.56 NOK"), not bare minor units."""
    return table(
        [finding_in_words(r, currency) for r in rows],
        FINDING_COLUMNS,
        {
            "expected": "what the check expected, with its meaning and unit",
            "actual": "what the stored report holds, with its meaning and unit",
        },
    )
