"""Issue 19, the API-client rows: a hostile server on 127.0.0.1 (support/hostile.py)
answers with redirects, trickles, endless pages, huge bodies, duplicated keys, int64-sized
amounts and entries of another ledger. Every answer must end as one clear failure of that
ledger-day, with nothing stored and no secret anywhere. Test names carry the issue's row."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import SecretStr

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.api.errors import ApiError, BadReport
from vipps_pipeline.defs.resources import ReportApiResource
from vipps_pipeline.feed import stream as feed
from vipps_pipeline.feed import today as feed_today
from vipps_pipeline.settings import ApiSettings, PipelineSettings, SettingsError
from vipps_pipeline.store.paths import report_path
from vipps_pipeline.sync.ingest import fetch_day
from vipps_pipeline_tests.support.hostile import (
    CLIENT_ID,
    CLIENT_SECRET,
    DAY,
    LEDGER,
    MSN,
    SUBSCRIPTION_KEY,
    HostileServer,
    hostile_api,
)

SECRETS = (CLIENT_SECRET, SUBSCRIPTION_KEY)


@pytest.fixture
def api() -> Iterator[HostileServer]:
    with hostile_api() as server:
        yield server


def client_for(api: HostileServer, **overrides: str) -> ReportClient:
    return ReportClient(ApiSettings.from_env(api.env(**overrides)))


def fetch(api: HostileServer, tmp_path: Path, mode: str, **overrides: str) -> Exception:
    """Fetch the hostile day; it must fail, store nothing, and say nothing secret."""
    api.mode = mode
    with pytest.raises((ApiError, BadReport)) as info:
        fetch_day(client_for(api, **overrides), tmp_path, LEDGER, "funds", DAY)
    assert not report_path(tmp_path, "funds", LEDGER, DAY).exists()
    assert "\n" not in str(info.value)
    assert not any(secret in str(info.value) for secret in SECRETS)
    return info.value


def test_a_friendly_answer_is_stored(api, tmp_path):
    """The control: the same server's plain answer passes, so the failures below are the
    hostile answers' doing."""
    summary = fetch_day(client_for(api), tmp_path, LEDGER, "funds", DAY)
    assert summary.rows == 1 and summary.sum_amount == 100
    assert report_path(tmp_path, "funds", LEDGER, DAY).exists()


# --- row 2: redirects --------------------------------------------------------------------------
def test_row2_a_302_on_a_report_is_refused_and_no_key_reaches_the_other_host(api, tmp_path):
    error = fetch(api, tmp_path, "redirect_report")
    assert "HTTP 302 redirect" in str(error) and "refused" in str(error)
    assert "127.0.0.1" in str(error)  # the target host is named...
    assert api.other.requests == []  # ...and never asked
    assert not api.other.seen(SUBSCRIPTION_KEY) and not api.other.seen(MSN)


def test_row2_a_307_on_the_token_request_never_sends_the_client_secret(api, tmp_path):
    error = fetch(api, tmp_path, "redirect_token")
    assert "token request" in str(error) and "HTTP 307 redirect" in str(error)
    assert api.other.requests == []
    assert not api.other.seen(CLIENT_SECRET) and not api.other.seen(SUBSCRIPTION_KEY)


def test_row2_a_redirect_body_is_never_read(api, tmp_path):
    """A 3xx whose body trickles for 10 s: refused on its status line, at once."""
    started = time.monotonic()
    error = fetch(api, tmp_path, "redirect_trickle")
    assert "HTTP 302 redirect" in str(error)
    assert time.monotonic() - started < 1.5
    assert api.other.requests == []


def test_row2_a_token_that_is_not_a_header_value_is_refused(api, tmp_path):
    """A token with CR LF would inject a header (and the header error would print it)."""
    error = fetch(api, tmp_path, "bad_token")
    assert "access_token is not a valid header value" in str(error)
    assert not [r for r in api.requests if r[0] == "GET"]


# --- row 3: secrets with control characters, and settings that must not be printed ---------------
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VIPPS_CLIENT_ID", CLIENT_ID + "\n"),
        ("VIPPS_CLIENT_SECRET", CLIENT_SECRET + "\n"),
        ("VIPPS_SUBSCRIPTION_KEY", SUBSCRIPTION_KEY + "\n"),
        ("VIPPS_SUBSCRIPTION_KEY", SUBSCRIPTION_KEY[:8] + "\r\nX-Evil: 1"),
        ("VIPPS_MERCHANT_SERIAL_NUMBER", MSN + "\n"),
    ],
)
def test_row3_a_secret_with_a_control_character_is_one_line_naming_the_variable_only(
    api, caplog, capsys, name, value
):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SettingsError) as info:
        ApiSettings.from_env(api.env(**{name: value}))
    text = str(info.value)
    assert name in text and "\n" not in text
    with pytest.raises(Exception) as failure:  # the Dagster resource: a dg.Failure
        ReportApiResource(**{name.removeprefix("VIPPS_").lower(): value}).settings()
    out = capsys.readouterr()
    shown = [text, str(failure.value), out.out, out.err, caplog.text]
    assert name in str(failure.value)
    secret = value.strip().split("\r")[0]
    assert not any(secret in s for s in shown), "the value must appear nowhere"
    assert api.requests == [], "refused before any request"


def test_row3_a_header_error_that_quotes_a_secret_is_redacted(api, caplog, capsys):
    """Settings refuse such a secret; were one to get through anyway (built by hand), the
    HTTP library's invalid-header error, which quotes the value, is redacted."""
    caplog.set_level(logging.DEBUG)
    settings = ApiSettings.from_env(api.env())
    object.__setattr__(settings, "subscription_key", SecretStr(SUBSCRIPTION_KEY + "\n"))
    with pytest.raises(ApiError) as info:
        ReportClient(settings).token()
    out = capsys.readouterr()
    for shown in (str(info.value), out.out, out.err, caplog.text):
        assert SUBSCRIPTION_KEY not in shown
    assert "***" in str(info.value)


def test_row3_storage_options_that_are_not_json_are_never_printed(tmp_path):
    raw = '{"key": "AKIA-SECRET-ACCESS", "secret": "s3-secret-value"'  # no closing brace
    env = {"VIPPS_DATA_DIR": str(tmp_path), "VIPPS_STORAGE_OPTIONS": raw}
    with pytest.raises(SettingsError) as info:
        PipelineSettings.from_env(env)
    text = str(info.value)
    assert "VIPPS_STORAGE_OPTIONS" in text and "line 1" in text
    assert "AKIA-SECRET-ACCESS" not in text and "s3-secret-value" not in text


# --- row 4: a trickle ----------------------------------------------------------------------------
def test_row4_a_body_trickling_one_byte_at_a_time_fails_within_the_deadline(api, tmp_path):
    started = time.monotonic()
    error = fetch(api, tmp_path, "trickle", VIPPS_HTTP_TIMEOUT_SECONDS="1")
    took = time.monotonic() - started
    assert "did not arrive within VIPPS_HTTP_TIMEOUT_SECONDS" in str(error)
    assert took < 2.5, f"{took:.1f} s: the deadline is per request, not per read"


def test_row4_headers_trickling_one_byte_at_a_time_fail_within_the_deadline(api, tmp_path):
    started = time.monotonic()
    error = fetch(api, tmp_path, "trickle_headers", VIPPS_HTTP_TIMEOUT_SECONDS="1")
    took = time.monotonic() - started
    assert "timed out" in str(error).lower()
    assert took < 2.5, f"{took:.1f} s: waiting for the headers is bounded too"


# --- row 7: endless pages, huge bodies, work per process -----------------------------------------
def test_row7_endless_pages_stop_at_what_a_day_can_hold(api, tmp_path):
    """The server says its pages hold 10 entries; a day of at most 50 entries needs at most
    5 pages and an empty trailing one, so the walk stops after 7, not VIPPS_MAX_PAGES."""
    error = fetch(api, tmp_path, "endless", VIPPS_MAX_DAY_ENTRIES="50")
    assert "more than 7 pages" in str(error) and "runaway paging" in str(error)
    gets = [r for r in api.requests if r[0] == "GET"]
    assert len(gets) <= 9, len(gets)  # 7 walked, at most 2 started ahead


def test_row7_the_requests_of_one_process_are_bounded(api, tmp_path):
    error = fetch(api, tmp_path, "endless", VIPPS_MAX_REQUESTS="4")
    assert "VIPPS_MAX_REQUESTS" in str(error)
    assert len(api.requests) <= 4  # the token request counts too


@pytest.mark.parametrize("mode", ["huge", "huge_undeclared"])
def test_row7_a_body_over_the_cap_is_refused_without_reading_it_all(api, tmp_path, mode):
    api.huge_bytes = 4 << 20  # 4 MiB against a cap of 64 KiB
    error = fetch(api, tmp_path, mode, VIPPS_MAX_BODY_BYTES="65536")
    assert "VIPPS_MAX_BODY_BYTES" in str(error)
    assert isinstance(error, BadReport)  # not retried: the same body would come again


# --- row 8: duplicated keys ----------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "key"), [("dup_trylater", "tryLater"), ("dup_amount", "amount")])
def test_row8_a_duplicated_key_is_a_bad_report_naming_the_key(api, tmp_path, mode, key):
    error = fetch(api, tmp_path, mode)
    assert isinstance(error, BadReport)
    assert f"duplicated key {key!r}" in str(error) and f"ledger {LEDGER}" in str(error)
    assert len([r for r in api.requests if r[0] == "GET"]) == 1, "not asked again"


# --- row 9: int64 wrap-around --------------------------------------------------------------------
def test_row9_amounts_that_sum_beyond_int64_are_a_bad_report_not_a_wrapped_sum(api, tmp_path):
    """Entries of 2**62 and 2**62 (balances -2**62 -> 0 -> 2**62, each row adds up) used to
    store sum_amount = -2**63, which the day's movement check also wrapped into a pass."""
    error = fetch(api, tmp_path, "int64")
    assert isinstance(error, BadReport)
    assert "int64" in str(error) and "overflow" in str(error)
    assert f"ledger {LEDGER}, funds, {DAY}" in str(error)


def test_row9_a_feed_date_whose_amounts_overflow_is_refused_not_wrapped():
    """The feed's provisional day summary sums the same way (pages checked one by one can
    still add up beyond int64 over a day)."""
    record = feed.Record(LEDGER, "funds")
    table = pa.table({"amount": pa.array([2**62, 2**62], pa.int64())})
    with pytest.raises(BadReport, match=f"ledger {LEDGER}, funds, {DAY}: .*int64"):
        feed_today._summary(table, record, DAY, None)


# --- row 10 (second half): an entry of another ledger --------------------------------------------
def test_row10_an_entry_of_another_ledger_is_a_bad_report_naming_both(api, tmp_path):
    error = fetch(api, tmp_path, "other_ledger")
    assert isinstance(error, BadReport)
    assert "'999999'" in str(error) and f"ledger {LEDGER} was requested" in str(error)
