"""The Report API client against the real simulator over loopback (no mocked requests)."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.api.errors import ApiError, AuthError, BadReport, LedgerForbidden, NotReady
from vipps_pipeline.api.reports import FETCH_THREADS, plain_cursor
from vipps_pipeline.settings import ApiSettings, SettingsError
from vipps_pipeline.simulator import DEMO_CREDENTIALS
from vipps_pipeline.simulator.wire import encode_cursor
from vipps_pipeline.store.ledgers import write_ledgers
from vipps_pipeline_tests.support.clock import CLOSED_DAY, LEDGER_IDS

SPEC = yaml.safe_load((Path(__file__).parents[1] / "spec" / "report-api-swagger.yaml").read_text())
SYSTEM_HEADERS = (
    "Vipps-System-Name",
    "Vipps-System-Version",
    "Vipps-System-Plugin-Name",
    "Vipps-System-Plugin-Version",
)


def all_entries(client: ReportClient, ledger_id: str, topic: str, d: date) -> list[dict]:
    return [e for page in client.iter_report_pages(ledger_id, topic, d) for e in page.items]


def test_merchant_token_flow_sends_header_credentials(sim, client):
    client.list_ledgers()
    method, path, _, headers = sim.requests_log[0]
    assert (method, path) == ("POST", "/accesstoken/get")
    creds = DEMO_CREDENTIALS["merchant"]
    assert headers["client_id"] == creds["client_id"]
    assert headers["Ocp-Apim-Subscription-Key"] == creds["subscription_key"]
    assert headers["Merchant-Serial-Number"] == creds["merchant_serial_number"]
    api_headers = sim.requests_log[1][3]
    assert api_headers["Ocp-Apim-Subscription-Key"] == creds["subscription_key"]
    assert api_headers["Authorization"].startswith("Bearer sim-")


@pytest.mark.parametrize("as_string", [False, True], ids=["expires_in-number", "expires_in-string"])
def test_partner_token_flow_uses_basic_auth_and_no_subscription_key(
    sim, make_client, faults, as_string
):
    faults.partner_expires_in_string = as_string
    client = make_client("partner")
    result = client.list_ledgers()
    assert len(result.ledgers) == len(LEDGER_IDS)
    assert client.token() == client.token(), "cached either way"
    assert sim.counters["token_partner"] == 1
    method, path, _, headers = sim.requests_log[0]
    assert (method, path) == ("POST", "/miami/v1/token")
    assert headers["Authorization"].startswith("Basic ")
    for _, _, _, h in sim.requests_log:
        assert "Ocp-Apim-Subscription-Key" not in h
        assert "Merchant-Serial-Number" not in h


def test_system_headers_on_every_call_at_most_30_characters(sim, client):
    all_entries(client, "100001", "funds", CLOSED_DAY)
    client.list_ledgers()
    assert len(sim.requests_log) >= 3
    for _, _, _, headers in sim.requests_log:
        for name in SYSTEM_HEADERS:
            assert 0 < len(headers[name]) <= 30, name


def test_token_is_cached_and_refreshed_before_it_expires(sim, make_client, faults):
    client = make_client("partner")
    for _ in range(5):
        client.list_ledgers()
    assert sim.counters["token_partner"] == 1
    faults.token_ttl_seconds = 2  # refreshed at 90% of its lifetime
    client.token(force=True)
    before = sim.counters["token_partner"]
    time.sleep(1.9)
    client.list_ledgers()
    assert sim.counters["token_partner"] == before + 1
    assert sim.counters["401"] == 0, "the token must be renewed before the server rejects it"


def test_unexpected_401_refreshes_once_and_retries(sim, client):
    client.list_ledgers()
    sim.revoke_all_tokens()
    assert len(client.list_ledgers().ledgers) == len(LEDGER_IDS)
    assert sim.counters["401"] == 1
    assert sim.counters["token_merchant"] == 2


def test_bad_credentials_name_the_settings_but_never_the_secret(sim):
    env = {**sim.env("merchant"), "VIPPS_CLIENT_SECRET": "wrong-secret-value-123"}
    client = ReportClient(ApiSettings.from_env(env))
    with pytest.raises(AuthError) as info:
        client.list_ledgers()
    text = str(info.value)
    assert "VIPPS_CLIENT_SECRET" in text and "401" in text
    assert "wrong-secret-value-123" not in text


@pytest.mark.parametrize("shape", ["reference", "openapi", "newest"])
def test_ledger_list_follows_cursor_in_every_shape_and_stores_sales_units(
    client, faults, tmp_path, shape
):
    faults.ledger_list_shape = shape
    faults.ledgers_page_size = 3
    result = client.list_ledgers()
    assert [x["ledgerId"] for x in result.ledgers] == LEDGER_IDS
    stored = {r["ledger_id"]: r for r in write_ledgers(client, tmp_path).table.to_pylist()}
    assert sorted(stored) == LEDGER_IDS
    units = stored["100002"]["sales_units"]  # two recipient handles
    if shape == "openapi":
        assert units == [], "that shape has no sales units"
    elif shape == "reference":
        assert units == ["Hygge Bageri"]
    else:  # one unit per handle, each with a single-string recipientHandle
        assert units == ["Hygge Bageri", "Hygge Bageri api:555002"]
    assert stored["100001"]["settles_for_recipient_handles"] == ["NO:123455"]


def test_ledger_list_filter_by_recipient_handle(sim, client):
    result = client.list_ledgers("api:555002")
    assert [x["ledgerId"] for x in result.ledgers] == ["100002"]
    assert sim.requests_log[-1][2]["settlesForRecipientHandles"] == ["api:555002"]


def test_report_pages_until_has_more_is_false_with_trailing_empty_page(sim, client, faults):
    faults.page_size = 7
    faults.trailing_empty_page = True
    pages = list(client.iter_report_pages("100001", "funds", CLOSED_DAY))
    truth = sim.world.day("100001", "funds", CLOSED_DAY).entries
    assert pages[-1].items == []
    assert pages[0].page_size == 7
    served = [e for p in pages for e in p.items]
    assert [e["pspReference"] for e in served] == [e["pspReference"] for e in truth]
    assert len(pages) == -(-len(truth) // 7) + 1


def test_pages_are_read_by_arrow_and_a_caller_that_stops_early_stops_the_reader(
    sim, client, faults
):
    faults.page_size = 3
    pages = client.iter_report_pages("100001", "funds", CLOSED_DAY)
    first = next(pages)
    assert first.arrow is not None and len(first.arrow) == 3
    truth = sim.world.day("100001", "funds", CLOSED_DAY).entries[:3]
    assert [e["pspReference"] for e in first.items] == [e["pspReference"] for e in truth]
    pages.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("vipps-prefetch")]
    fetch_threads = [t for t in threading.enumerate() if t.name.startswith("vipps-fetch")]
    assert len(fetch_threads) <= FETCH_THREADS, "shared by every walk, never more"
    asked = [r for r in sim.requests_log if "/dates/" in r[1]]
    assert 1 < len(asked) <= 4, "at most three pages ahead of the caller"
    time.sleep(0.3)
    assert len([r for r in sim.requests_log if "/dates/" in r[1]]) == len(asked), "stopped"


def test_the_next_page_is_asked_for_from_a_plain_cursor_before_the_body_is_decoded():
    more = json.dumps({"hasMore": True, "tryLater": False, "items": [{"a": 1}], "cursor": "c1="})
    assert plain_cursor(more.encode()) == "c1="
    assert plain_cursor(json.dumps(json.loads(more), indent=2).encode()) == "c1="
    for other in (
        {"hasMore": False, "tryLater": False, "items": [], "cursor": "c1"},  # the last page
        {"hasMore": True, "tryLater": True, "items": [], "cursor": "c1"},  # not final
        {"items": [], "hasMore": True, "tryLater": False, "cursor": "c1"},  # another order
        {"hasMore": True, "tryLater": False, "cursor": "c1", "items": []},
        {"hasMore": True, "tryLater": False, "items": [], "cursor": 'a"b'},  # escaped
        {"hasMore": True, "tryLater": False, "items": [], "cursor": None},
    ):
        assert plain_cursor(json.dumps(other).encode()) is None, other
    nested = {"hasMore": True, "tryLater": False, "items": [{"cursor": "c"}]}
    assert plain_cursor(json.dumps(nested).encode()) is None, "an entry's field is not it"


def test_gdpr_flag_is_repeated_on_every_page(sim, make_client, faults):
    faults.page_size = 5
    client = make_client("merchant", VIPPS_INCLUDE_GDPR="true")
    entries = all_entries(client, "100001", "funds", CLOSED_DAY)
    report_requests = [r for r in sim.requests_log if "/dates/" in r[1]]
    assert len(report_requests) > 3
    assert all(r[2].get("includeGDPRSensitiveData") == ["true"] for r in report_requests)
    assert any("name" in e for e in entries)


def test_gdpr_fields_are_absent_unless_asked_for(sim, client):
    entries = all_entries(client, "100001", "funds", CLOSED_DAY)
    assert entries and not any("name" in e or "message" in e for e in entries)
    assert all("includeGDPRSensitiveData" not in r[2] for r in sim.requests_log)


def test_404_is_not_ready_never_an_empty_day(client):
    with pytest.raises(NotReady) as info:
        list(client.iter_report_pages("100001", "funds", date(2026, 12, 1)))
    assert info.value.reason == "404"
    assert "100001" in str(info.value) and "2026-12-01" in str(info.value)


def test_try_later_is_not_ready(client):
    with pytest.raises(NotReady) as info:
        list(client.iter_report_pages("100004", "funds", CLOSED_DAY))  # monthly settlement
    assert info.value.reason == "tryLater"


def test_not_ready_polls_then_ready(client, faults):
    faults.not_ready_polls = 2
    for _ in range(2):
        with pytest.raises(NotReady):
            list(client.iter_report_pages("100001", "fees", CLOSED_DAY))
    assert all_entries(client, "100001", "fees", CLOSED_DAY)


def test_429_honours_retry_after(sim, client, faults):
    # one page per listing, so exactly one 429 (Retry-After: 1, the shortest a header can say)
    faults.ledgers_page_size = len(LEDGER_IDS)
    client.list_ledgers()
    faults.rate_limit_every = 2
    faults.retry_after_seconds = 1
    started = time.monotonic()
    client.list_ledgers()
    assert sim.counters["429"] >= 1
    assert time.monotonic() - started >= 1.0


def test_5xx_and_truncated_bodies_are_retried_without_losing_rows(sim, client, faults):
    faults.page_size = 4
    faults.server_error_every = 3
    faults.truncate_every = 4
    entries = all_entries(client, "100002", "funds", CLOSED_DAY)
    truth = sim.world.day("100002", "funds", CLOSED_DAY).entries
    assert [e["pspReference"] for e in entries] == [e["pspReference"] for e in truth]
    assert sim.counters["500"] >= 1 and sim.counters["truncated"] >= 1
    assert client.stats["body_retries"] >= 1


def test_timeouts_are_retried(sim, make_client, faults):
    faults.page_size = 10
    faults.slow_every = 2
    faults.slow_seconds = 1.5
    client = make_client("merchant", VIPPS_HTTP_TIMEOUT_SECONDS="1")
    entries = all_entries(client, "100003", "funds", CLOSED_DAY)
    assert len(entries) == len(sim.world.day("100003", "funds", CLOSED_DAY))
    assert sim.counters["slow"] >= 1


def test_token_revoked_mid_pagination(sim, client, faults):
    faults.page_size = 3
    faults.revoke_token_every = 4
    entries = all_entries(client, "100001", "funds", CLOSED_DAY)
    assert len(entries) == len(sim.world.day("100001", "funds", CLOSED_DAY))
    assert sim.counters["revoked"] >= 2


def test_retries_are_bounded(make_client, faults):
    client = make_client("merchant", VIPPS_HTTP_RETRIES="2")
    client.list_ledgers()
    faults.server_error_every = 1
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        client.list_ledgers()
    assert "500" in str(info.value) and "Internal error" in str(info.value)
    assert time.monotonic() - started < 10


def test_other_4xx_fail_at_once_naming_ledger_topic_date_and_api_text(sim, client, faults):
    faults.forbidden_ledgers = {"100003"}
    client.list_ledgers()
    before = len(sim.requests_log)
    with pytest.raises(LedgerForbidden) as info:
        list(client.iter_report_pages("100003", "fees", CLOSED_DAY))
    text = str(info.value)
    assert "100003" in text and "fees" in text and "2026-11-20" in text
    assert "403" in text and "Not authorized for ledger 100003" in text
    assert len(sim.requests_log) - before == 1, "a 403 must not be retried"


@pytest.mark.parametrize("bad", ["../x", "a|b", "a/b", "", "x" * 65, "100 1"])
def test_ledger_id_is_validated_before_any_request(sim, client, bad):
    with pytest.raises(SettingsError, match="not a valid ledger id"):
        list(client.iter_report_pages(bad, "funds", CLOSED_DAY))
    assert not [r for r in sim.requests_log if "/report/" in r[1]]


def test_repeating_cursor_is_detected(client, monkeypatch, sim, faults):
    faults.page_size = 2
    original = sim.report

    def stuck(*args, **kwargs):
        body, headers = original(*args, **kwargs)
        stuck_at = {"l": "100001", "t": "funds", "d": CLOSED_DAY.isoformat(), "o": 2}
        body["hasMore"], body["cursor"] = True, encode_cursor(stuck_at)
        return body, headers

    monkeypatch.setattr(sim, "report", stuck)
    with pytest.raises(BadReport, match="cursor repeats"):
        list(client.iter_report_pages("100001", "funds", CLOSED_DAY))


def test_more_pages_than_allowed_is_an_error(make_client, faults):
    faults.page_size = 1
    client = make_client("merchant", VIPPS_MAX_PAGES="5")
    with pytest.raises(BadReport, match="more than 5 pages"):
        list(client.iter_report_pages("100001", "funds", CLOSED_DAY))


def test_feed_is_consistent_with_the_dates_endpoint(sim, client, faults):
    faults.page_size = 50
    spec = sim.world.ledgers["100003"]
    first_days = [spec.start + timedelta(days=k) for k in range(3)]
    wanted = sum(len(sim.world.day("100003", "fees", d)) for d in first_days)
    got: list[dict] = []
    cursor = None
    while len(got) < wanted:
        page = client.feed_page("100003", "fees", cursor)
        got += page.items
        cursor = page.cursor
    by_date = [e for d in first_days for e in all_entries(client, "100003", "fees", d)]
    assert [e["pspReference"] for e in got[:wanted]] == [e["pspReference"] for e in by_date]


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


def test_requests_conform_to_the_openapi_spec(sim, make_client, faults):
    faults.page_size = 10
    for key_type in ("merchant", "partner"):
        client = make_client(key_type, VIPPS_INCLUDE_GDPR="true")
        client.list_ledgers("NO:123455")
        all_entries(client, "100001", "funds", CLOSED_DAY)
        all_entries(client, "100001", "fees", CLOSED_DAY)
        client.feed_page("100001", "fees")
    checked = 0
    for method, path, query, headers in sim.requests_log:
        if path in ("/accesstoken/get", "/miami/v1/token"):
            continue  # token endpoints belong to the access-token API, not this spec
        matches = [(t, m) for t in SPEC["paths"] if (m := _template_regex(t).match(path))]
        assert len(matches) == 1, path
        template, match = matches[0]
        operation = SPEC["paths"][template][method.lower()]
        params = []
        for p in operation["parameters"]:
            if "$ref" in p:
                p = SPEC["components"]["parameters"][p["$ref"].split("/")[-1]]
            params.append(p)
        for p in params:
            if p["in"] == "path":
                value = match.group(p["name"])
                if "enum" in p["schema"]:
                    assert value in p["schema"]["enum"]
                if "pattern" in p["schema"]:
                    assert re.match(p["schema"]["pattern"], value)
            if p["in"] == "header" and p["name"] in headers:
                assert len(headers[p["name"]]) <= p["schema"].get("maxLength", 10**6)
        declared = {p["name"] for p in params if p["in"] == "query"}
        declared.add("includeGDPRSensitiveData")  # in the newer API reference, not this file
        assert set(query) <= declared, (path, set(query) - declared)
        assert headers["Authorization"].startswith("Bearer ")
        checked += 1
    assert checked > 10


@pytest.mark.parametrize(
    ("flag", "value"),
    [("tryLater", "true"), ("tryLater", 1), ("tryLater", None), ("hasMore", "false")],
)
def test_a_flag_that_is_not_a_json_boolean_is_a_bad_report_never_a_final_day(
    sim, client, flag, value
):
    body = {"hasMore": False, "tryLater": False, "items": [], flag: value}
    path = f"/report/v2/ledgers/100001/funds/dates/{CLOSED_DAY}"
    sim.faults.canned[path] = [(200, json.dumps(body).encode(), "application/json")]
    with pytest.raises(BadReport, match=f"field '{flag}' must be true or false"):
        list(client.iter_report_pages("100001", "funds", CLOSED_DAY))


def test_without_has_more_a_cursor_still_means_more_pages(sim, client):
    """Before November 2023 there was no hasMore: a cursor alone meant another page."""
    path = f"/report/v2/ledgers/100001/funds/dates/{CLOSED_DAY}"
    pages = [
        {"cursor": "Mw==", "items": [{"amount": 1}]},
        {"cursor": "", "items": [{"amount": 2}]},
    ]
    sim.faults.canned[path] = [(200, json.dumps(p).encode(), "application/json") for p in pages]
    assert [p.items for p in client.iter_report_pages("100001", "funds", CLOSED_DAY)] == [
        [{"amount": 1}],
        [{"amount": 2}],
    ]


def test_a_ledger_that_is_not_yours_answers_no_such_ledger_id(client):
    with pytest.raises(NotReady) as info:
        list(client.iter_report_pages("999999", "funds", CLOSED_DAY))
    assert info.value.reason == "404" and "No such ledgerId" in info.value.detail
