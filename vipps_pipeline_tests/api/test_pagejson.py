"""Pages read straight into Arrow are stored, and refused, exactly as the Python path does.

The reference is what the pipeline did before the Arrow reader existed: requests' ``.json()``
(UTF-8 with replacement, then the standard library), the client's flag rules, and the parser's
entry-by-entry path. The column-wise paths must agree with it on every page, valid or not.
"""

from __future__ import annotations

import codecs
import copy
import json
from datetime import date
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vipps_pipeline.api import fields, parse
from vipps_pipeline.api.errors import BadReport
from vipps_pipeline.api.pagejson import Entries, read_report_page
from vipps_pipeline.api.parse import page_to_batch
from vipps_pipeline.store.schemas import REPORT_SCHEMA
from vipps_pipeline_tests.support.entries import ENTRY as STORED_ENTRY

DAY = date(2020, 10, 5)
ENTRY = {k: v for k, v in STORED_ENTRY.items() if k not in ("name", "maskedPhoneNo", "message")}
"""The vendor's example entry (test_storage's), without the GDPR fields."""
GDPR = {"name": "Åse Ødegård", "maskedPhoneNo": "xxxx 5678", "message": "Ordre 123 – takk"}


def reference(raw: bytes) -> Any:
    """requests' Response.json() for an application/json body without a charset."""
    return json.loads(raw.decode("utf-8", errors="replace"))


def outcome(items: Any, include_gdpr: bool, checked_only: bool = False) -> tuple[str, Any]:
    fast = parse._columns_fast
    if checked_only:
        parse._columns_fast = lambda *a: None
    try:
        batch = page_to_batch(
            items,
            ledger_id="302321",
            topic="funds",
            ledger_date=DAY,
            seq_start=3,
            include_gdpr=include_gdpr,
        )
        return "stored", batch.to_pylist()
    except BadReport as exc:
        return "refused", str(exc)
    finally:
        parse._columns_fast = fast


def assert_same_as_reference(raw: bytes, include_gdpr: bool) -> dict | None:
    page = read_report_page(raw, include_gdpr)
    if page is None:
        return None  # the client decodes it with requests, exactly as before
    ref = reference(raw)  # the reader may only accept a body the standard library reads
    assert isinstance(ref, dict)
    for flag in ("hasMore", "tryLater"):
        assert page.get(flag, "missing") == ref.get(flag, "missing"), flag
    assert page["cursor"] == ref.get("cursor")
    if page["items"] is None:
        assert ref.get("items") is None
        return page
    assert isinstance(page["items"], Entries)
    assert page["items"].python() == ref["items"]
    expected = outcome(ref["items"], include_gdpr, checked_only=True)
    assert outcome(page["items"], include_gdpr) == expected
    return page


def body(items: list, **top: Any) -> bytes:
    return json.dumps({"hasMore": False, "tryLater": False, **top, "items": items}).encode()


def test_a_plain_page_is_read_by_arrow_and_stored_as_before():
    page = assert_same_as_reference(body([ENTRY, {**ENTRY, "amount": -5}]), False)
    assert page is not None and len(page["items"]) == 2


def test_gdpr_fields_and_non_ascii_text_when_asked_for():
    raw = json.dumps({"items": [{**ENTRY, **GDPR}]}, ensure_ascii=False).encode()
    page = assert_same_as_reference(raw, True)
    assert page is not None
    assert outcome(page["items"], True)[1][0]["name"] == "Åse Ødegård"
    assert read_report_page(raw, False) is None, "fields not asked for: the Python path drops them"


def test_a_missing_ledger_date_is_read_by_arrow_a_null_one_is_not():
    missing = {k: v for k, v in ENTRY.items() if k != "ledgerDate"}
    assert assert_same_as_reference(body([missing]), False) is not None
    assert read_report_page(body([{**ENTRY, "ledgerDate": None}]), False) is None
    assert outcome(reference(body([{**ENTRY, "ledgerDate": None}]))["items"], False)[0] == (
        "refused"
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"hasMore": null, "items": []}',  # null is refused, missing means false
        b'{"tryLater": null, "items": []}',
        codecs.BOM_UTF8 + body([ENTRY]),  # requests refuses a byte-order mark
        b'{"items": [], "cursor": "\xff\xfe"}',  # invalid UTF-8: requests replaces it
        body([ENTRY]) + b"\n" + body([ENTRY]),  # two objects
        b"   ",
        b"",
        b'{"hasMore": true, "hasMore": false, "items": []}',  # a repeated key
        body([{**ENTRY, "newField": 1}]),  # kept in extra_fields by the Python path
        body([ENTRY], pageSize=1000),
        body([None]),
        body([ENTRY, 5]),
        b'{"items": [{"amount": 1,}]}',
    ],
)
def test_what_arrow_cannot_tell_is_left_to_the_standard_library(raw):
    assert read_report_page(raw, False) is None


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 1.0},
        {"amount": 499.5},
        {"amount": True},
        {"amount": "499"},
        {"amount": 2**63},
        {"amount": -(2**63) - 1},
        {"amount": 2**64},
        {"amount": None},
        {"balanceAfter": [1]},
        {"pspReference": 123},
        {"time": False},
        {"entryType": ""},
        {"entryType": None},
        {"currency": "XYZ"},
        {"currency": 578},
        {"ledgerDate": "2020-10-06"},
        {"time": "yesterday"},
        {"time": "2020-10-05T01:00:00.5+0200"},
        {"recipientHandle": None},
        {"reference": 'æøå \u2603 \\ " \n'},
    ],
)
def test_every_field_change_is_stored_or_refused_as_before(change):
    assert_same_as_reference(body([ENTRY, {**ENTRY, **change}]), False)


def test_top_level_flags_and_items_as_before():
    for raw in (
        b'{"hasMore": "true", "items": []}',
        b'{"hasMore": 1, "items": []}',
        b'{"tryLater": true, "items": [], "cursor": 5}',
        b'{"items": {"0": {}}}',
        b'{"items": null}',
        b'{"hasMore": false}',
        b'{"items": 5}',
        b"[]",
        b'{"hasMore": true, "cursor": "abc", "items": []}',
        b'{"cursor": "abc", "items": []}',
        b'{\n  "hasMore": false,\n  "items": [\n  ]\n}',
    ):
        assert_same_as_reference(raw, False)


VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
    st.sampled_from(["NOK", "DKK", "EUR", "XYZ", "", "2020-10-05", "2020-10-06"]),
    st.lists(st.integers(), max_size=2),
)
FIELDS = [*fields.KNOWN_FIELDS, "newField"]


@st.composite
def pages(draw) -> tuple[bytes, bool]:
    n = draw(st.integers(min_value=0, max_value=6))
    items: list[Any] = []
    for i in range(n):
        entry = copy.deepcopy(ENTRY)
        entry["amount"] = draw(st.integers(min_value=-(2**40), max_value=2**40))
        entry["balanceAfter"] = entry["balanceBefore"] + entry["amount"]
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            field = draw(st.sampled_from(FIELDS))
            if draw(st.booleans()):
                entry.pop(field, None)
            else:
                entry[field] = draw(VALUES)
        items.append(entry if i or draw(st.integers(0, 20)) else draw(VALUES))
    top: dict[str, Any] = {"items": items}
    for flag in ("hasMore", "tryLater"):
        choice = draw(st.sampled_from(["false", "true", "missing", "null", "odd"]))
        if choice != "missing":
            top[flag] = {"false": False, "true": True, "null": None, "odd": 1}[choice]
    if draw(st.booleans()):
        top["cursor"] = draw(st.none() | st.text(max_size=5) | st.integers())
    raw = json.dumps(top, ensure_ascii=draw(st.booleans()), indent=draw(st.none() | st.just(1)))
    return raw.encode(), draw(st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages())
def test_any_page_reads_the_same_through_arrow_or_the_standard_library(page):
    raw, include_gdpr = page
    assert_same_as_reference(raw, include_gdpr)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages())
def test_the_column_wise_path_of_python_entries_agrees_with_the_entry_by_entry_path(page):
    raw, include_gdpr = page
    items = reference(raw).get("items")
    assert outcome(items, include_gdpr) == outcome(items, include_gdpr, checked_only=True)


def test_an_entry_by_entry_error_on_an_arrow_page_names_the_entry():
    raw = body([ENTRY, ENTRY, {**ENTRY, "currency": "XYZ"}])
    page = read_report_page(raw, False)
    assert page is not None
    kind, message = outcome(page["items"], False)
    assert kind == "refused" and "entry 5: field 'currency' 'XYZ'" in message


def test_entries_are_arrow_structs_of_the_entry_type():
    page = read_report_page(body([ENTRY]), True)
    assert page is not None
    assert page["items"].array.type == fields.entry_type(True)
    assert isinstance(page["items"].array, pa.StructArray)


def _batches_or_error(make) -> tuple[str, Any]:
    try:
        return "stored", pa.Table.from_batches(make(), schema=REPORT_SCHEMA).to_pylist()
    except BadReport as exc:
        return "refused", str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pages(), min_size=1, max_size=4))
def test_pages_checked_a_row_group_at_a_time_agree_with_page_by_page(drawn):
    read = [read_report_page(raw, False) for raw, _ in drawn]
    entries = [p["items"] for p in read if p is not None and isinstance(p["items"], Entries)]
    ids = {"ledger_id": "302321", "topic": "funds", "ledger_date": DAY, "include_gdpr": False}

    def one_by_one() -> list[pa.RecordBatch]:
        batches, seq = [], 3
        for e in entries:
            batches.append(page_to_batch(e, **ids, seq_start=seq))
            seq += batches[-1].num_rows
        return batches

    together = _batches_or_error(lambda: parse.pages_to_batch(entries, **ids, seq_start=3))
    assert together == _batches_or_error(one_by_one)
