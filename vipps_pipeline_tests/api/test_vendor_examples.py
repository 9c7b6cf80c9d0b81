"""The vendor's own published examples, served over HTTP by the simulator, through the real
client, parser, writer and rules: what is stored, and what the rules say.

The examples are copies from the vendor's guide, FAQ, OpenAPI file, agent toolkit and SDKs
(``fixtures/vendor/``, MIT-licensed where the repository says so). Some are deliberately
inconsistent (a refund with a positive amount, a fees row whose balance has the wrong sign):
those must be reported by the rules, never accepted as truth.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vipps_pipeline.api.errors import ApiError, AuthError, BadReport, NotReady
from vipps_pipeline.books import derive as books
from vipps_pipeline.store.ledgers import write_ledgers
from vipps_pipeline.store.paths import report_path
from vipps_pipeline.sync.ingest import fetch_day

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vendor"
LEDGER = "302321"
DAY = date(2022, 10, 1)


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def serve(sim, path: str, *bodies: bytes | dict, status: int = 200, ctype="application/json"):
    sim.faults.canned[path] = [
        (status, b if isinstance(b, bytes) else json.dumps(b).encode(), ctype) for b in bodies
    ]


def report_url(topic: str, d: date = DAY, ledger: str = LEDGER) -> str:
    return f"/report/v2/ledgers/{ledger}/{topic}/dates/{d.isoformat()}"


def findings_of(data_dir: Path, d: date = DAY, **kwargs) -> dict[tuple[str, str], dict]:
    books.write_statements(data_dir, LEDGER, [d], kwargs.pop("settlement", None))
    table = books.write_findings(data_dir, LEDGER, [d], first_date=d, window=1, **kwargs)
    return {(f["topic"], f["check"]): f for f in table.to_pylist()}


def failed(findings: dict) -> set[tuple[str, str]]:
    return {k for k, f in findings.items() if f["status"] == "fail"}


def test_the_guides_funds_and_fees_tables(sim, client, tmp_path):
    """Guide 2023, ledger date 2022-10-01: the funds table is consistent; the fees table's
    fees-retained goes 1200 -> 0 with +1200 (balance before has the wrong sign)."""
    serve(sim, report_url("funds"), raw("guide2023_table_funds_2022-10-01.json"))
    serve(sim, report_url("fees"), raw("guide2023_table_fees_2022-10-01.json"))
    funds = fetch_day(client, tmp_path, LEDGER, "funds", DAY)
    fees = fetch_day(client, tmp_path, LEDGER, "fees", DAY)
    assert (funds.rows, fees.rows) == (6, 4)
    stored = pq.read_table(report_path(tmp_path, "funds", LEDGER, DAY)).to_pylist()
    assert stored[0]["time"].isoformat() == "2022-10-01T14:33:00.824993+00:00", "+0200 -> UTC"
    assert stored[-1]["entry_type"] == "scheduled-for-payout"
    assert stored[-1]["psp_reference"] == "12345-2000023"
    assert stored[-1]["reference"] == "Vipps utbet. 2000023 Vippsnr 57860"
    findings = findings_of(tmp_path)
    assert failed(findings) == {("fees", "row_arithmetic"), ("fees", "chain_within_day")}
    assert "seq 3" in findings[("fees", "row_arithmetic")]["detail"]
    assert findings[("funds", "payout_last")]["status"] == "pass"
    assert findings[("funds_fees", "fees_retained_mirror")]["status"] == "pass"
    assert findings[("funds_fees", "fee_coverage")]["detail"] == "3 captures covered"
    statement = pq.read_table(tmp_path / "statements" / LEDGER / "2022" / "2022-10-01.parquet")
    funds_row = next(r for r in statement.to_pylist() if r["topic"] == "funds")
    assert (funds_row["payout_amount"], funds_row["reserve_kept"]) == (28800, 0)
    assert funds_row["payout_text"] == "Vipps utbet. 2000023 Vippsnr 57860"
    assert funds_row["settlement"] == "net"


def test_the_guides_ready_example_without_ledger_dates_and_a_positive_refund(sim, client, tmp_path):
    """The guide's by-date example has no ``ledgerDate`` (the requested date is meant) and a
    refund of +20000: stored, and the sign is reported."""
    d = date(2023, 9, 27)
    serve(
        sim,
        report_url("funds", d),
        raw("guide2023_bydate_ready_comma_fixed_no_ledgerDate.json"),
        {"hasMore": False, "tryLater": False, "items": []},
    )
    assert fetch_day(client, tmp_path, LEDGER, "funds", d).rows == 2
    rows = pq.read_table(report_path(tmp_path, "funds", LEDGER, d)).to_pylist()
    assert {r["ledger_date"] for r in rows} == {d}
    serve(sim, report_url("fees", d), {"hasMore": False, "tryLater": False, "items": []})
    fetch_day(client, tmp_path, LEDGER, "fees", d)
    findings = findings_of(tmp_path, d)
    # the example shows no fees ledger: its capture has no capture fee either
    assert failed(findings) == {("funds", "entry_signs"), ("funds_fees", "fee_coverage")}
    assert (
        "refund has amount 20000, expected negative" in findings[("funds", "entry_signs")]["detail"]
    )


def test_the_faqs_refund_with_a_positive_amount_is_reported(sim, client, tmp_path):
    d = date(2020, 10, 5)
    serve(sim, report_url("funds", d), raw("faq2023_items_refund_plus0200.json"))
    serve(sim, report_url("fees", d), {"hasMore": False, "tryLater": False, "items": []})
    fetch_day(client, tmp_path, LEDGER, "funds", d)
    fetch_day(client, tmp_path, LEDGER, "fees", d)
    assert failed(findings_of(tmp_path, d)) == {
        ("funds", "entry_signs"),
        ("funds", "row_arithmetic"),
        ("funds", "day_movement"),
    }


def test_the_references_gdpr_example_is_stored_only_when_asked_for(sim, make_client, tmp_path):
    d = date(2020, 10, 5)
    body = raw("reference_bydate_200_gdpr.json")
    for gdpr in (False, True):
        serve(sim, report_url("funds", d), body)
        client = make_client(VIPPS_INCLUDE_GDPR=str(gdpr).lower())
        fetch_day(client, tmp_path, LEDGER, "funds", d)
        [row] = pq.read_table(report_path(tmp_path, "funds", LEDGER, d)).to_pylist()
        assert row["name"] == ("John Doe" if gdpr else None)
        assert row["masked_phone_no"] == ("xxxx 5678" if gdpr else None)


def test_the_guides_not_ready_answer(sim, client, tmp_path):
    serve(sim, report_url("funds"), raw("guide2023_bydate_not_ready.json"))
    with pytest.raises(NotReady, match="tryLater"):
        fetch_day(client, tmp_path, LEDGER, "funds", DAY)
    assert not report_path(tmp_path, "funds", LEDGER, DAY).exists()


def test_the_guides_verbatim_example_is_not_json_and_is_refused(sim, client, tmp_path):
    serve(sim, report_url("funds"), raw("guide2023_bydate_ready_verbatim_trailing_comma.json.txt"))
    with pytest.raises(BadReport, match="invalid JSON"):
        fetch_day(client, tmp_path, LEDGER, "funds", DAY)


def test_the_toolkits_tables_lack_the_currency_and_are_refused_naming_it(sim, client, tmp_path):
    """The 2026 toolkit's tables were transcribed without ``time`` and ``currency``; a missing
    time is stored as null, but money without a currency is not booked."""
    serve(sim, report_url("funds"), raw("toolkit2026_table_funds_2022-10-01_no_time_currency.json"))
    with pytest.raises(BadReport, match="entry 0: required field 'currency' is missing"):
        fetch_day(client, tmp_path, LEDGER, "funds", DAY)
    body = json.loads(raw("toolkit2026_table_funds_2022-10-01_no_time_currency.json"))
    for entry in body["items"]:
        entry["currency"] = "NOK"
    serve(sim, report_url("funds"), body)
    assert fetch_day(client, tmp_path, LEDGER, "funds", DAY).rows == 6
    rows = pq.read_table(report_path(tmp_path, "funds", LEDGER, DAY)).to_pylist()
    assert {r["time"] for r in rows} == {None}


@pytest.mark.parametrize(
    ("fixture", "units"),
    [
        ("reference_ledgers_ledgers_key_toplevel_salesUnits.json", ["ACME Fitness"]),
        ("spec_ledgers_items.json", []),
        ("guide2023_ledgers_items_empty_cursor.json", []),
        ("guide2026_ledgers_items_nested_salesUnits.json", ["ACME Fitness Oslo"]),
    ],
)
def test_every_published_ledger_list_shape(sim, client, tmp_path, fixture, units):
    serve(sim, "/settlement/v1/ledgers", raw(fixture), {"items": [], "cursor": ""})
    [row] = write_ledgers(client, tmp_path).table.to_pylist()
    assert row["ledger_id"] == LEDGER and row["currency"] == "NOK"
    assert row["sales_units"] == units
    assert row["payout_account_masked"] == "*******7947"


@pytest.mark.parametrize(
    ("key_type", "fixture", "lifetime"),
    [
        ("merchant", "token_merchant_accesstoken_get_toolkit.json", 86398),
        ("partner", "token_partner_miami_toolkit.json", 900),
        ("partner", "token_partner_miami_per_deno_sdk_types_string.json", 900),
    ],
)
def test_both_token_answers_in_every_published_form(
    sim, make_client, monkeypatch, key_type, fixture, lifetime
):
    issue = getattr(sim, f"{key_type}_token")

    def published(*args):
        real = issue(*args)  # checks the credentials and registers a token
        return {**json.loads(raw(fixture)), "access_token": real["access_token"]}

    monkeypatch.setattr(sim, f"{key_type}_token", published)
    client = make_client(key_type)
    assert len(client.list_ledgers().ledgers) > 0
    left = client._token_expires - time.monotonic()
    assert lifetime - min(300, lifetime * 0.1) - 5 < left <= lifetime - min(300, lifetime * 0.1)


@pytest.mark.parametrize(
    ("fixture", "status", "ctype", "error", "text"),
    [
        ("error_401_spec.json", 401, "application/json", AuthError, "Please check your API keys"),
        (
            "error_500_spec.json",
            500,
            "application/json",
            ApiError,
            "errorCode 100001, contextId 123e4567-e89b-12d3-a456-426655440000",
        ),
        (
            "error_problem_knowledgebase_status_string.json",
            400,
            "application/problem+json",
            ApiError,
            "Your request parameters didn't validate. - The request body contains",
        ),
    ],
)
def test_every_published_error_body_is_read(sim, make_client, fixture, status, ctype, error, text):
    client = make_client(VIPPS_HTTP_RETRIES="0")
    serve(sim, report_url("funds"), raw(fixture), status=status, ctype=ctype)
    with pytest.raises(error) as info:
        list(client.iter_report_pages(LEDGER, "funds", DAY))
    assert text in str(info.value) and f"HTTP {status}" in str(info.value)
