"""Bank statements in: camt.053 001.02 and 001.08, CSV with configured columns, hostile files,
and lines stored once however often or overlapping the statements are imported."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from vipps_pipeline.books.bank.camt import parse_camt053
from vipps_pipeline.books.bank.csvfile import parse_csv
from vipps_pipeline.books.bank.lines import BadStatement, to_minor
from vipps_pipeline.books.bank.store import import_files, read_lines
from vipps_pipeline.settings.types import SettingsError, parse_bank_csv_columns
from vipps_pipeline.simulator.bank import SimBankLine
from vipps_pipeline.simulator.bank_files import camt053, csv_text

DEFAULT_COLUMNS = parse_bank_csv_columns("")
FAQ_TEXT = "Utb. 2000810 Vippsnr 117703"  # the FAQ's own example of the bank text

V02 = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>1</MsgId><CreDtTm>2025-04-30T23:00:00</CreDtTm></GrpHdr>
<Stmt><Id>1</Id><CreDtTm>2025-04-30T23:00:00</CreDtTm>
<Acct><Id><Othr><Id>86011117947</Id><SchmeNm><Cd>BBAN</Cd></SchmeNm></Othr></Id></Acct>
<Ntry><Amt Ccy="NOK">15000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2025-04-02</Dt></BookgDt><ValDt><Dt>2025-04-02</Dt></ValDt>
<AcctSvcrRef>NO-1</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Vipps MobilePay AS</Nm>
</Dbtr></RltdPties><RmtInf><Ustrd>{FAQ_TEXT}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="NOK">99.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2025-04-03</Dt></BookgDt><AddtlNtryInf>Gebyr</AddtlNtryInf></Ntry>
<Ntry><Amt Ccy="NOK">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>PDNG</Sts>
<BookgDt><Dt>2025-04-04</Dt></BookgDt></Ntry>
</Stmt></BkToCstmrStmt></Document>
"""


def test_camt053_001_02_reads_booked_entries_with_signs_text_and_debtor():
    lines = parse_camt053(V02.encode(), "april.xml")
    assert [(ln["amount"], ln["currency"], ln["booking_date"]) for ln in lines] == [
        (1_500_000, "NOK", date(2025, 4, 2)),
        (-9_950, "NOK", date(2025, 4, 3)),
    ]  # the pending entry is not a bank line yet
    first, second = lines
    assert (first["text"], first["debtor_name"], first["account"]) == (
        FAQ_TEXT,
        "Vipps MobilePay AS",
        "86011117947",
    )
    assert first["line_id"] == "86011117947/ref/NO-1"
    assert second["text"] == "Gebyr" and second["line_id"].startswith("86011117947/sha/")
    assert {ln["statement_to"] for ln in lines} == {date(2025, 4, 3)}


def test_camt053_001_08_status_code_and_party_name():
    line = SimBankLine("FI2112345600000785", "EUR", date(2025, 5, 2), 123_456, FAQ_TEXT, "Vipps")
    xml = camt053([line], line.account, (date(2025, 5, 1), date(2025, 5, 31)), "001.08", {})
    (parsed,) = parse_camt053(xml.encode(), "fi.xml")
    assert (parsed["amount"], parsed["text"], parsed["debtor_name"]) == (123_456, FAQ_TEXT, "Vipps")
    assert parsed["account"] == "FI2112345600000785"
    assert parsed["statement_to"] == date(2025, 5, 31)  # FrToDt, not the last booking
    assert parsed["statement_from"] == date(2025, 5, 1)  # nor the first


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            "<Document>&b;</Document>",
            "refused",
        ),
        ('<?xml version="1.0"?><!DOCTYPE d SYSTEM "file:///etc/passwd"><Document/>', "refused"),
        ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkTo', "well-formed"),
        (V02.replace("15000.00", "15000.001"), "more decimals"),
        (V02.replace("<CdtDbtInd>CRDT", "<CdtDbtInd>XX"), "CdtDbtInd"),
        (V02.replace('Ccy="NOK">15000', ">15000"), "Ccy"),
    ],
)
def test_hostile_or_broken_camt_is_one_error_naming_the_file(body: str, problem: str):
    with pytest.raises(BadStatement, match=problem) as caught:
        parse_camt053(body.encode(), "evil.xml")
    assert str(caught.value).startswith("evil.xml") and "\n" not in str(caught.value)


def test_amounts_in_every_notation_and_never_rounded():
    assert to_minor("1 234,50", "NOK", "f") == 123_450
    assert to_minor("1.234,50", "DKK", "f") == 123_450
    assert to_minor("1,234.50", "EUR", "f") == 123_450
    assert to_minor("-12", "NOK", "f") == -1_200
    assert to_minor("500", "JPY", "f") == 500
    with pytest.raises(BadStatement, match="not a number"):
        to_minor("12x", "NOK", "f")


def test_csv_with_the_banks_own_columns():
    columns = parse_bank_csv_columns(
        "booking_date=Dato,amount=Beløb,text=Tekst,account=Konto,currency=Valuta"
    )
    data = "Dato;Tekst;Beløb;Valuta;Konto\n02.04.2025;MobilePay 2000100;1.234,50;DKK;3000\n"
    (line,) = parse_csv(data.encode("latin-1"), "dk.csv", columns)
    assert (line["booking_date"], line["amount"], line["text"]) == (
        date(2025, 4, 2),
        123_450,
        "MobilePay 2000100",
    )
    with pytest.raises(BadStatement, match="VIPPS_BANK_CSV_COLUMNS"):
        parse_csv(data.encode(), "dk.csv", DEFAULT_COLUMNS)
    with pytest.raises(SettingsError, match="VIPPS_BANK_CSV_COLUMNS"):
        parse_bank_csv_columns("colour=Farve")


def _write(folder: Path, name: str, lines: list[SimBankLine]) -> Path:
    path = folder / name
    path.write_text(csv_text(lines), encoding="utf-8")
    return path


def test_import_twice_or_overlapping_stores_each_line_once(tmp_path: Path):
    days = [date(2025, 4, d) for d in (1, 2, 2, 3, 4)]
    lines = [SimBankLine("3000", "DKK", d, 10_000, "Kort", "") for d in days]  # two alike on 2nd
    first = _write(tmp_path, "a.csv", lines[:4])
    overlap = _write(tmp_path, "b.csv", lines[1:])
    (a,) = import_files(tmp_path / "data", [first], DEFAULT_COLUMNS)
    assert (a.added, a.known) == (4, 0)
    again = import_files(tmp_path / "data", [first, overlap], DEFAULT_COLUMNS)
    assert [(r.added, r.known) for r in again] == [(0, 4), (1, 3)]
    assert read_lines(tmp_path / "data").num_rows == 5


def test_lines_stored_before_statement_from_existed_read_and_import_as_before(tmp_path: Path):
    """``bank/lines.parquet`` written without ``statement_from`` (before it was kept) reads
    with the column null, and importing more lines keeps the old ones."""
    import pyarrow.parquet as pq

    from vipps_pipeline.store.paths import bank_lines_path
    from vipps_pipeline.store.schemas import BANK_LINE_SCHEMA

    data = tmp_path / "data"
    days = [date(2025, 4, 1), date(2025, 4, 2)]
    lines = [SimBankLine("3000", "DKK", d, 10_000, "Kort", "") for d in days]
    import_files(data, [_write(tmp_path, "a.csv", lines[:1])], DEFAULT_COLUMNS)
    path = bank_lines_path(data)
    old = pq.read_table(path).drop_columns(["statement_from"])
    old = old.replace_schema_metadata(BANK_LINE_SCHEMA.metadata)
    pq.write_table(old, path)
    assert "statement_from" not in pq.read_schema(path).names
    assert read_lines(data).column("statement_from").to_pylist() == [None]
    (b,) = import_files(data, [_write(tmp_path, "b.csv", lines)], DEFAULT_COLUMNS)
    assert (b.added, b.known) == (1, 1)
    assert read_lines(data).column("booking_date").to_pylist() == days


def test_a_bad_file_adds_nothing_and_the_good_ones_still_import(tmp_path: Path):
    good = _write(tmp_path, "good.csv", [SimBankLine("1", "NOK", date(2025, 4, 1), 5, "x", "")])
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "booking_date;amount;currency;text;account\n2025-04-01;5;NOK;a;1\nnope;1;NOK;b;1\n"
    )
    results = import_files(tmp_path / "data", [bad, good], DEFAULT_COLUMNS)
    errors = [r.error for r in results if r.error]
    assert len(errors) == 1 and "bad.csv: row 3" in errors[0] and "nope" in errors[0]
    assert read_lines(tmp_path / "data").column("source_file").to_pylist() == ["good.csv"]
