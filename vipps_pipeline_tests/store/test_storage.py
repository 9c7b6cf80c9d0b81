"""The page parser, the Arrow schema and the atomic Parquet writer, without Dagster."""

from __future__ import annotations

import copy
import json
import threading
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from vipps_pipeline.api.errors import BadReport, NotReady
from vipps_pipeline.api.pagejson import read_report_page
from vipps_pipeline.api.parse import page_to_batch
from vipps_pipeline.api.reports import ReportPage
from vipps_pipeline.store.atomic import write_batches
from vipps_pipeline.store.paths import report_path
from vipps_pipeline.store.schemas import REPORT_SCHEMA
from vipps_pipeline.sync import ingest
from vipps_pipeline.sync.ingest import fetch_day
from vipps_pipeline_tests.support.clock import CLOSED_DAY
from vipps_pipeline_tests.support.entries import DAY, ENTRY, parse


def test_page_to_batch_follows_the_schema():
    second = {
        **ENTRY,
        "time": "2020-10-05T01:00:00.5+0200",
        "recipientHandle": None,
        "reference": "",
        "newField": {"x": 1},
        "entryType": "brand-new-type",
    }
    batch = parse([ENTRY, second])
    assert batch.schema == REPORT_SCHEMA
    rows = batch.to_pylist()
    assert rows[0]["seq"] == 0 and rows[1]["seq"] == 1
    assert rows[1]["time"].isoformat() == "2020-10-04T23:00:00.500000+00:00"
    assert rows[1]["entry_type"] == "brand-new-type", "unknown entry types are kept"
    assert rows[1]["extra_fields"] == '{"newField": {"x": 1}}' and rows[0]["extra_fields"] is None
    assert rows[0]["name"] is None, "GDPR fields stay out unless opted in"
    assert parse([ENTRY], include_gdpr=True).to_pylist()[0]["name"] == "John Doe"


def test_balances_beyond_int32_are_kept_exactly():
    big = {**ENTRY, "amount": 2**40, "balanceBefore": 2**45, "balanceAfter": 2**45 + 2**40}
    assert parse([big]).to_pylist()[0]["balance_after"] == 2**45 + 2**40


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("amount"), "required field 'amount' is missing"),
        (lambda e: e.pop("balanceBefore"), "required field 'balanceBefore' is missing"),
        (lambda e: e.update(amount="499"), "field 'amount' must be an integer"),
        (lambda e: e.update(amount=499.0), "field 'amount' must be an integer"),
        (lambda e: e.update(amount=True), "field 'amount' must be an integer"),
        (lambda e: e.update(currency="XYZ"), "field 'currency' 'XYZ' is not an ISO 4217 code"),
        (lambda e: e.update(ledgerDate="2020-10-06"), "field 'ledgerDate' is '2020-10-06'"),
        (lambda e: e.update(time="yesterday"), "field 'time' 'yesterday'"),
        (lambda e: e.update(entryType=""), "field 'entryType' is empty"),
    ],
)
def test_bad_entries_name_ledger_topic_date_and_field(mutate, message):
    entry = copy.deepcopy(ENTRY)
    mutate(entry)
    with pytest.raises(BadReport) as info:
        parse([ENTRY, entry])
    text = str(info.value)
    assert message in text
    assert text.startswith("ledger 302321, funds, 2020-10-05: entry 1")


def test_items_that_is_not_a_list():
    with pytest.raises(BadReport, match="'items' must be a list, got dict"):
        parse({"a": 1})


def test_atomic_writer_keeps_the_old_file_when_a_write_fails(tmp_path: Path):
    path = tmp_path / "x" / "day.parquet"
    write_batches(path, REPORT_SCHEMA, [parse([ENTRY])])
    before = path.read_bytes()

    def broken():
        yield parse([ENTRY])
        raise BadReport("302321", "funds", DAY, "boom")

    with pytest.raises(BadReport):
        write_batches(path, REPORT_SCHEMA, broken())
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["day.parquet"], "no temporary file left"


def test_a_write_that_fails_on_the_writer_thread_is_raised_and_leaves_nothing(tmp_path: Path):
    path = tmp_path / "day.parquet"
    wrong = pa.table({"a": [1]})  # not the schema: the writer thread's write fails
    with pytest.raises((ValueError, pa.ArrowInvalid)):
        write_batches(path, REPORT_SCHEMA, [parse([ENTRY]), wrong, parse([ENTRY])])
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "parquet-writer"]


def test_a_large_day_is_written_in_row_groups_and_summarised_from_them(
    client, tmp_path, faults, monkeypatch
):
    monkeypatch.setattr(ingest, "ROW_GROUP_ROWS", 5)
    faults.page_size = 2
    summary = fetch_day(client, tmp_path, "100002", "funds", CLOSED_DAY)
    meta = pq.read_metadata(summary.path)
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == summary.rows > 12 and all(n == 6 for n in sizes[:-1])
    table = pq.read_table(summary.path)
    assert summary.sum_amount == sum(table.column("amount").to_pylist())
    assert summary.opening_balance == table.column("balance_before")[0].as_py()
    assert summary.closing_balance == table.column("balance_after")[-1].as_py()
    assert sum(summary.counts_by_type.values()) == summary.rows
    assert len(summary.preview) == 5


def test_a_bad_page_held_for_its_row_group_is_reported_before_a_later_failure(tmp_path):
    entry = {k: v for k, v in ENTRY.items() if k not in ("name", "maskedPhoneNo", "message")}
    body = {"hasMore": True, "tryLater": False, "items": [{**entry, "currency": "XYZ"}]}
    bad = read_report_page(json.dumps(body).encode(), False)
    assert bad is not None

    class Walk:
        settings = SimpleNamespace(include_gdpr=False)

        def iter_report_pages(self, *args):
            yield ReportPage(bad["items"], 1000, 0)
            raise NotReady("302321", "funds", DAY, "tryLater")

    with pytest.raises(BadReport, match="entry 0: field 'currency' 'XYZ'"):
        fetch_day(Walk(), tmp_path, "302321", "funds", DAY)
    assert not list(tmp_path.rglob("*.parquet"))


def test_empty_day_is_a_valid_zero_row_file(tmp_path: Path):
    path = tmp_path / "empty.parquet"
    assert write_batches(path, REPORT_SCHEMA, []) == 0
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.schema.equals(REPORT_SCHEMA)


def _truth_rows(sim, ledger_id, topic, d):
    return [
        (
            e["pspReference"],
            e["entryType"],
            e["amount"],
            e["balanceBefore"],
            e["balanceAfter"],
            e["recipientHandle"],
            e["reference"],
        )
        for e in sim.world.day(ledger_id, topic, d).entries
    ]


def test_fetch_day_stores_exactly_what_the_api_served(sim, client, tmp_path, faults):
    faults.page_size = 9
    for topic in ("funds", "fees"):
        summary = fetch_day(client, tmp_path, "100002", topic, CLOSED_DAY)
        table = pq.read_table(summary.path)
        stored = [
            (
                r["psp_reference"],
                r["entry_type"],
                r["amount"],
                r["balance_before"],
                r["balance_after"],
                r["recipient_handle"],
                r["reference"],
            )
            for r in table.to_pylist()
        ]
        assert stored == _truth_rows(sim, "100002", topic, CLOSED_DAY)
        assert table.column("seq").to_pylist() == list(range(table.num_rows))
        assert summary.rows == table.num_rows and summary.pages == -(-table.num_rows // 9)


def test_refetch_replaces_the_file_and_never_duplicates(client, tmp_path):
    first = fetch_day(client, tmp_path, "100001", "funds", CLOSED_DAY)
    rows = pq.read_table(first.path)
    second = fetch_day(client, tmp_path, "100001", "funds", CLOSED_DAY)
    assert pq.read_table(second.path).equals(rows)
    assert len(list(first.path.parent.iterdir())) == 1


def test_not_ready_writes_nothing(client, tmp_path):
    with pytest.raises(NotReady):
        fetch_day(client, tmp_path, "100004", "funds", CLOSED_DAY)
    assert not report_path(tmp_path, "funds", "100004", CLOSED_DAY).exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_whole_topic_reads_as_one_dataset(client, tmp_path):
    for ledger_id in ("100001", "100002"):
        for d in (date(2026, 11, 19), CLOSED_DAY):
            fetch_day(client, tmp_path, ledger_id, "funds", d)
    table = ds.dataset(tmp_path / "reports" / "funds", format="parquet").to_table()
    assert table.schema.remove_metadata() == REPORT_SCHEMA.remove_metadata()
    assert set(table.column("ledger_id").to_pylist()) == {"100001", "100002"}
    assert pa.compute.count_distinct(table.column("ledger_date")).as_py() == 2


@pytest.mark.parametrize(
    ("time", "stored"),
    [
        ("2026-11-20T10:21:54.123456789Z", "2026-11-20T10:21:54.123456+00:00"),
        ("2026-11-20T12:21:54.1234567+02:00", "2026-11-20T10:21:54.123456+00:00"),
        ("2026-11-20T12:21:54.141089+0200", "2026-11-20T10:21:54.141089+00:00"),
        ("2026-11-20T10:21:54", "2026-11-20T10:21:54+00:00"),
        ("2026-11-20T10:21:54.5", "2026-11-20T10:21:54.500000+00:00"),
        (None, None),
    ],
)
def test_every_documented_timestamp_form_is_stored_in_utc(time, stored):
    entry = {**ENTRY, "time": time}
    if time is None:
        del entry["time"]
    batch = page_to_batch(
        [entry], ledger_id="100001", topic="funds", ledger_date=DAY, seq_start=0, include_gdpr=False
    )
    value = batch.column("time")[0].as_py()
    assert (value.isoformat() if value else None) == stored


def test_an_unreadable_time_names_the_entry_and_field():
    bad = [ENTRY, {**ENTRY, "time": "yesterday at noon"}]
    with pytest.raises(BadReport, match="entry 8: field 'time' 'yesterday at noon' is not an ISO"):
        page_to_batch(
            bad, ledger_id="100001", topic="funds", ledger_date=DAY, seq_start=7, include_gdpr=False
        )


def test_a_missing_ledger_date_takes_the_requested_date():
    entry = {k: v for k, v in ENTRY.items() if k != "ledgerDate"}
    batch = page_to_batch(
        [entry], ledger_id="100001", topic="funds", ledger_date=DAY, seq_start=0, include_gdpr=False
    )
    assert batch.column("ledger_date")[0].as_py() == DAY


def test_a_small_file_is_snappy_a_large_one_zstd_and_both_read_alike(tmp_path: Path):
    from vipps_pipeline.store.atomic import SMALL_FILE_ROWS

    small = parse([ENTRY])
    large = pa.Table.from_batches([small] * (SMALL_FILE_ROWS + 1))
    write_batches(tmp_path / "small.parquet", REPORT_SCHEMA, [small])
    write_batches(tmp_path / "large.parquet", REPORT_SCHEMA, [large])
    write_batches(tmp_path / "groups.parquet", REPORT_SCHEMA, [small, small])
    names = ("small", "large", "groups")
    files = {name: pq.ParquetFile(tmp_path / f"{name}.parquet") for name in names}
    codec = {name: f.metadata.row_group(0).column(0).compression for name, f in files.items()}
    assert codec == {"small": "SNAPPY", "large": "ZSTD", "groups": "ZSTD"}
    assert pq.read_table(tmp_path / "small.parquet", schema=REPORT_SCHEMA).equals(
        pa.Table.from_batches([small])
    )


def test_days_held_in_memory_read_as_their_files_do(tmp_path: Path):
    """A sync's derived books take the chunk's rows from memory: the same table, the same
    order, as reading the files back."""
    from vipps_pipeline.store.days import read_days

    days = [date(2026, 11, d) for d in (1, 2, 3, 4)]
    tables = {}
    for k, d in enumerate(days):
        entries = [
            {**ENTRY, "pspReference": f"ref-{k}-{i}", "ledgerDate": d.isoformat()}
            for i in range(k + 1)
        ]
        batch = page_to_batch(
            entries,
            ledger_id="302321",
            topic="funds",
            ledger_date=d,
            seq_start=0,
            include_gdpr=False,
        )
        tables[d] = pa.Table.from_batches([batch])
        write_batches(report_path(tmp_path, "funds", "302321", d), REPORT_SCHEMA, [batch])
    read: dict[str, list[pa.Table]] = {}
    for held in (set(), {days[1], days[3]}, set(days)):

        def memory(kind: str, d: date, held: set = held) -> pa.Table | None:
            return tables[d] if d in held and kind == "reports/funds" else None

        for columns in (None, ["ledger_date", "amount", "psp_reference"]):
            table, stored = read_days(
                tmp_path, "reports/funds", "302321", days, REPORT_SCHEMA, columns, memory
            )
            assert stored == set(days)
            read.setdefault(str(columns), []).append(table)
    for tables_read in read.values():
        assert tables_read[0].num_rows == 10
        assert all(t.equals(tables_read[0]) for t in tables_read)
