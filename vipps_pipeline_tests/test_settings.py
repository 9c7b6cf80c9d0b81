"""Settings: defaults, and one clear line naming the setting for every bad value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vipps_pipeline.settings import (
    SETTINGS_DOC,
    ApiSettings,
    PipelineSettings,
    SettingsError,
    settings_table,
    validate_ledger_id,
)

MERCHANT = {
    "VIPPS_CLIENT_ID": "id",
    "VIPPS_CLIENT_SECRET": "secret",
    "VIPPS_SUBSCRIPTION_KEY": "key",
}


def test_defaults():
    api = ApiSettings.from_env(MERCHANT)
    assert api.base_url == "https://api.vipps.no" and api.key_type == "merchant"
    assert api.include_gdpr is False
    pipe = PipelineSettings.from_env({})
    assert str(pipe.data_dir) == "data" and pipe.start_date.isoformat() == "2020-05-01"
    assert pipe.timezone == "Europe/Oslo" and pipe.stale_days == 62
    assert pipe.persistent_404_days == 7 and pipe.max_consecutive_errors == 3
    assert pipe.settlement == {} and pipe.now_override is None
    assert (pipe.schedule_hour, pipe.schedule_minute, pipe.poll_minute) == (6, 15, 17)
    assert pipe.feed_start == pipe.start_date and pipe.feed_prune
    assert (pipe.feed_poll_seconds, pipe.feed_max_poll_seconds) == (300, 1800)


def test_settlement_overrides_and_simulated_clock():
    pipe = PipelineSettings.from_env(
        {"VIPPS_SETTLEMENT": "100001:net, 100003:gross", "VIPPS_NOW": "2026-11-24T23:30+00:00"}
    )
    assert pipe.settlement == {"100001": "net", "100003": "gross"}
    assert pipe.today().isoformat() == "2026-11-25", "today is a date in VIPPS_TIMEZONE"


def test_secrets_are_not_in_the_repr():
    text = repr(ApiSettings.from_env({**MERCHANT, "VIPPS_CLIENT_SECRET": "s3cr3t-value"}))
    assert "s3cr3t-value" not in text and "key" not in text.split("subscription")[-1][:5]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"VIPPS_CLIENT_ID": ""}, "VIPPS_CLIENT_ID is not set"),
        ({"VIPPS_CLIENT_SECRET": ""}, "VIPPS_CLIENT_SECRET is not set"),
        ({"VIPPS_SUBSCRIPTION_KEY": ""}, "VIPPS_SUBSCRIPTION_KEY is not set"),
        ({"VIPPS_KEY_TYPE": "admin"}, "VIPPS_KEY_TYPE must be 'merchant' or 'partner'"),
        ({"VIPPS_BASE_URL": "api.vipps.no"}, "VIPPS_BASE_URL must be an http(s) URL"),
        ({"VIPPS_INCLUDE_GDPR": "maybe"}, "VIPPS_INCLUDE_GDPR must be true or false"),
        ({"VIPPS_HTTP_RETRIES": "many"}, "VIPPS_HTTP_RETRIES must be a whole number"),
        ({"VIPPS_SYSTEM_NAME": "x" * 31}, "VIPPS_SYSTEM_NAME must be at most 30 characters"),
        ({"VIPPS_MERCHANT_SERIAL_NUMBER": "12ab"}, "VIPPS_MERCHANT_SERIAL_NUMBER must be digits"),
        ({"VIPPS_KEY_TYPE": "partner"}, "VIPPS_SUBSCRIPTION_KEY must not be set for partner keys"),
    ],
)
def test_bad_api_settings_name_the_setting(env, named):
    with pytest.raises(SettingsError) as info:
        ApiSettings.from_env({**MERCHANT, **env})
    assert named in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"VIPPS_START_DATE": "yesterday"}, "VIPPS_START_DATE must be a date YYYY-MM-DD"),
        ({"VIPPS_START_DATE": "2019-01-01"}, "VIPPS_START_DATE must be on or after 2020-05-01"),
        ({"VIPPS_TIMEZONE": "Europe/Atlantis"}, "VIPPS_TIMEZONE must be an IANA timezone"),
        ({"VIPPS_POLL_MINUTE": "5"}, "VIPPS_POLL_MINUTE must be between 11 and 59"),
        ({"VIPPS_SCHEDULE_TIME": "25:00"}, "VIPPS_SCHEDULE_TIME must be HH:MM"),
        ({"VIPPS_FEE_WINDOW_DAYS": "0"}, "VIPPS_FEE_WINDOW_DAYS must be between 1 and 31"),
        ({"VIPPS_STALE_DAYS": "0"}, "VIPPS_STALE_DAYS must be between 1 and 3650"),
        ({"VIPPS_SETTLEMENT": "100001:weekly"}, "VIPPS_SETTLEMENT must list LEDGER:net"),
        ({"VIPPS_SETTLEMENT": "../x:net"}, "VIPPS_SETTLEMENT names ledger '../x'"),
        ({"VIPPS_NOW": "tomorrow"}, "VIPPS_NOW must be an ISO 8601 time"),
        ({"VIPPS_NOW": "2026-11-24T12:00"}, "VIPPS_NOW must include a UTC offset"),
        ({"VIPPS_FEED_START_DATE": "soon"}, "VIPPS_FEED_START_DATE must be a date YYYY-MM-DD"),
        (
            {"VIPPS_START_DATE": "2026-01-01", "VIPPS_FEED_START_DATE": "2025-12-31"},
            "VIPPS_FEED_START_DATE must be on or after VIPPS_START_DATE (2026-01-01)",
        ),
        ({"VIPPS_FEED_POLL_SECONDS": "5"}, "VIPPS_FEED_POLL_SECONDS must be between 60 and"),
        (
            {"VIPPS_FEED_POLL_SECONDS": "600", "VIPPS_FEED_MAX_POLL_SECONDS": "300"},
            "VIPPS_FEED_MAX_POLL_SECONDS must be at least VIPPS_FEED_POLL_SECONDS (600)",
        ),
        ({"VIPPS_FEED_PRUNE": "sometimes"}, "VIPPS_FEED_PRUNE must be true or false"),
    ],
)
def test_bad_pipeline_settings_name_the_setting(env, named):
    with pytest.raises(SettingsError, match=re.escape(named)):
        PipelineSettings.from_env(env)


@pytest.mark.parametrize("bad", ["../x", "a|b", "a/b", "", None, 100001, "x" * 65])
def test_ledger_ids_are_validated(bad):
    with pytest.raises(SettingsError, match="not a valid ledger id"):
        validate_ledger_id(bad)


def test_the_docs_document_every_setting():
    """The table is generated from the declarations: regenerate it with
    ``python -m vipps_pipeline.settings`` after changing a setting."""
    docs = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    assert settings_table() in docs
    for name, _, _ in SETTINGS_DOC:
        assert f"| `{name}` |" in docs, name


def test_a_sync_splits_over_one_run_per_core_by_default_and_never_more_runs_than_ledgers():
    from vipps_pipeline.settings.pipeline import AUTO_SYNC_RUNS
    from vipps_pipeline.store.processes import usable_cores
    from vipps_pipeline.sync.planner import deal, share_label

    auto = PipelineSettings.from_env({})
    assert auto.sync_runs == 0
    assert auto.runs_for(1000) == min(AUTO_SYNC_RUNS, usable_cores())
    assert auto.runs_for(1) == 1 and auto.runs_for(0) == 1
    three = PipelineSettings.from_env({"VIPPS_SYNC_RUNS": "3"})
    assert three.runs_for(1000) == 3 and three.runs_for(2) == 2
    ids = [str(100001 + i) for i in range(7)]
    shares = deal(list(reversed(ids)), 3)
    assert shares == [ids[0::3], ids[1::3], ids[2::3]]
    assert deal(ids[:2], 3) == [[ids[0]], [ids[1]]], "no empty share"
    assert share_label(ids, 2, 3) == {
        "vipps/share": "2 of 3",
        "vipps/ledgers": "100001, 100002, 100003, 100004, 100005, 100006 +1 more",
    }
    with pytest.raises(SettingsError, match="VIPPS_SYNC_RUNS"):
        PipelineSettings.from_env({"VIPPS_SYNC_RUNS": "-1"})
