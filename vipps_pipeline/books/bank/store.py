"""Bank lines stored once: one Parquet file of every line ever imported, keyed by ``line_id``.

Importing the same statement twice, or two statements that overlap, adds nothing: lines whose
key is stored are skipped. Each file is read whole before anything is written, and the lines
file is replaced atomically under a lock, so a bad file or a crash never leaves half a file
imported and two importers never lose each other's lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from vipps_pipeline.books.bank.camt import is_camt053, parse_camt053
from vipps_pipeline.books.bank.csvfile import parse_csv
from vipps_pipeline.books.bank.lines import MAX_STATEMENT_BYTES, BadStatement, BankLine
from vipps_pipeline.store import objstore
from vipps_pipeline.store.atomic import file_lock, write_table
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.paths import bank_lines_path, bank_lock_path
from vipps_pipeline.store.schemas import BANK_LINE_SCHEMA


@dataclass(frozen=True)
class Imported:
    """What one file gave: lines new to the store, lines already there, or why it was refused."""

    path: str
    added: int = 0
    known: int = 0
    error: str | None = None

    def line(self) -> str:
        """The one line the CLI and the run log print for the file."""
        if self.error:
            return f"error: {self.error}"
        return f"{self.path}: {self.added} new line(s), {self.known} already stored"


def read_statement(path: Path, csv_columns: dict[str, str]) -> list[BankLine]:
    """A file's lines: camt.053 when it says so, CSV otherwise; :class:`BadStatement` if not."""
    name = path.name
    try:
        if path.stat().st_size > MAX_STATEMENT_BYTES:
            raise BadStatement(f"{path}: larger than {MAX_STATEMENT_BYTES // 2**20} MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise BadStatement(f"{path}: cannot be read ({exc.strerror or exc})") from None
    lines = parse_camt053(data, str(path)) if is_camt053(data) else None
    if lines is None:
        if data.lstrip()[:1] == b"<":
            raise BadStatement(f"{path}: XML, but not a camt.053 statement")
        lines = parse_csv(data, str(path), csv_columns)
    for line in lines:
        line["source_file"] = name
    return lines


def read_lines(data_dir: DataDir) -> pa.Table:
    """Every stored bank line (an empty table when none are)."""
    path = bank_lines_path(data_dir)
    if not path.exists():
        return BANK_LINE_SCHEMA.empty_table()
    return objstore.read_table(path, schema=BANK_LINE_SCHEMA)


def import_files(
    data_dir: DataDir, paths: Iterable[str | Path], csv_columns: dict[str, str]
) -> list[Imported]:
    """Read every file, then store the lines not stored yet in one atomic replacement; a file
    that cannot be read is reported and contributes nothing."""
    results: list[Imported] = []
    parsed: list[tuple[str, list[BankLine]]] = []
    for p in paths:
        try:
            parsed.append((str(p), read_statement(Path(p), csv_columns)))
        except BadStatement as exc:
            results.append(Imported(str(p), error=str(exc)))
    with file_lock(bank_lock_path(data_dir)):
        stored = read_lines(data_dir)
        keys = set(stored.column("line_id").to_pylist())
        new: list[BankLine] = []
        for path, lines in parsed:
            fresh = [ln for ln in lines if ln["line_id"] not in keys]
            keys.update(ln["line_id"] for ln in fresh)
            new.extend(fresh)
            results.append(Imported(path, added=len(fresh), known=len(lines) - len(fresh)))
        if new:
            added = pa.Table.from_pylist(new, schema=BANK_LINE_SCHEMA)
            table = pa.concat_tables([stored, added]).sort_by(
                [("booking_date", "ascending"), ("line_id", "ascending")]
            )
            write_table(bank_lines_path(data_dir), table)
    return results
