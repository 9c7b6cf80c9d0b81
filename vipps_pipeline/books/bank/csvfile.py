"""Bank CSV exports: every bank has its own columns, so which column is which is a setting.

``VIPPS_BANK_CSV_COLUMNS`` names the bank's column for each field; the delimiter (comma,
semicolon or tab) is recognised from the header, amounts may use a decimal comma and dates
may be ISO or ``DD.MM.YYYY``. A file in Latin-1 (older Nordic exports) is read too.
"""

from __future__ import annotations

import csv
import io

from vipps_pipeline.books.bank.lines import (
    MAX_STATEMENT_BYTES,
    BadStatement,
    BankLine,
    parse_day,
    to_minor,
    with_keys,
)


def _decoded(data: bytes) -> str:
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")


def parse_csv(data: bytes, source: str, columns: dict[str, str]) -> list[BankLine]:
    """Every row as a line (money in is positive), or :class:`BadStatement` naming the file,
    the row and the problem; ``columns`` maps each field to the bank's column name."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise BadStatement(f"{source}: larger than {MAX_STATEMENT_BYTES // 2**20} MiB")
    text = _decoded(data)
    header = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    absent = [f"{f} ({c!r})" for f, c in columns.items() if c not in (reader.fieldnames or [])]
    if absent:
        raise BadStatement(
            f"{source}: no column for {', '.join(absent)}; the header has "
            f"{reader.fieldnames}; set VIPPS_BANK_CSV_COLUMNS"
        )
    lines = []
    for n, row in enumerate(reader, 2):
        where = f"{source}: row {n}"
        currency = (row[columns["currency"]] or "").strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise BadStatement(f"{where}: currency {currency!r} is not a 3-letter code")
        lines.append(
            {
                "account": (row[columns["account"]] or "").strip() or None,
                "booking_date": parse_day(row[columns["booking_date"]] or "", where),
                "value_date": None,
                "amount": to_minor(row[columns["amount"]] or "", currency, where),
                "currency": currency,
                "text": (row[columns["text"]] or "").strip() or None,
                "debtor_name": None,
                "bank_reference": None,
            }
        )
    covered = max((ln["booking_date"] for ln in lines), default=None)
    for line in lines:
        line["statement_to"] = covered
    return with_keys(lines)
