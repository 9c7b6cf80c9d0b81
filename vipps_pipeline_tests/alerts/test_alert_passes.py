"""Alert passes against a local webhook receiver: once per transition, grouped, durable,
never blocked by a destination that is down, and never carrying a secret."""

from __future__ import annotations

import json
import logging
import time
from datetime import date, timedelta

import pytest

from vipps_pipeline.alerts.notify import alert_pass
from vipps_pipeline.alerts.problems import RunOutcome
from vipps_pipeline.settings import AlertSettings
from vipps_pipeline_tests.support.alerting import (
    DAY,
    LEDGER,
    alerts,
    pipeline,
    register,
    store_findings,
)
from vipps_pipeline_tests.support.clock import NOW
from vipps_pipeline_tests.support.receivers import WebhookReceiver, free_port


def test_a_break_alerts_once_and_its_clearing_once(tmp_path):
    register(tmp_path)
    with WebhookReceiver() as hook:
        settings = alerts(hook.url, VIPPS_UI_URL="http://dagster.example:3000")
        store_findings(tmp_path, DAY, broken=True)
        first = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert (first.new, first.delivered) == (1, {"webhook": 1})
        [text] = hook.texts
        assert "ledger 100001 (ACME Fitness)" in text and "ledger date 2026-11-20" in text
        assert "Expected:" in text and "1234.56 NOK" in text and "1200.00 NOK" in text
        assert "What to do:" in text
        assert "http://dagster.example:3000/assets/reconciliation?view=partitions" in text
        assert "partition=2026-11-20%7C100001" in text
        assert "fee_coverage" not in text  # pending never alerts

        # the same break, found again (the file rewritten by the next sync): silence
        store_findings(tmp_path, DAY, broken=True)
        again = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert (again.new, len(hook.posts)) == (0, 1)

        store_findings(tmp_path, DAY, broken=False)
        cleared = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert cleared.resolved == 1 and len(hook.posts) == 2
        assert hook.texts[1].startswith("vipps_pipeline: 1 resolved")
        assert "RESOLVED: check chain_across_days failed (funds)" in hook.texts[1]

        alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert len(hook.posts) == 2


def test_a_300_day_backfill_is_one_message(tmp_path):
    register(tmp_path)
    first = date(2025, 1, 1)
    days = [first + timedelta(days=k) for k in range(300)]
    for d in days:
        store_findings(tmp_path, d, broken=d.toordinal() % 3 != 0)  # 200 of 300 days fail
    with WebhookReceiver() as hook:
        started = time.monotonic()
        result = alert_pass(alerts(hook.url), pipeline(tmp_path, start="2025-01-01"), [LEDGER])
        took = time.monotonic() - started
        [text] = hook.texts
    assert result.new == 200 and result.delivered == {"webhook": 200}
    assert text.startswith("vipps_pipeline: 200 new problems")
    assert text.count("PROBLEM:") == 10
    assert "... and 190 more problems:" in text
    assert "ledger 100001 (ACME Fitness): 190, 2025-01-" in text
    print(f"300 findings files, 200 failing: one pass in {took:.2f} s")


def test_a_destination_that_is_down_fails_nothing_and_gets_it_later(tmp_path, caplog):
    register(tmp_path)
    store_findings(tmp_path, DAY, broken=True)
    dead = f"http://127.0.0.1:{free_port()}/hooks/T000/B000/s3cr3t-token"
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    down = alert_pass(alerts(dead), pipeline(tmp_path), [LEDGER])
    assert time.monotonic() - started < 10
    assert set(down.failed) == {"webhook"} and not down.delivered
    assert "s3cr3t" not in down.line() + caplog.text

    with WebhookReceiver() as hook:
        # the same address again within the back-off: left alone, nothing lost
        hook.path = "/hooks/T000/B000/s3cr3t-token"
        waiting = alert_pass(alerts(dead), pipeline(tmp_path), [LEDGER])
        assert waiting.waiting == ["webhook"]
        later = pipeline(tmp_path, now=NOW + timedelta(minutes=5))
        delivered = alert_pass(alerts(hook.url), later, [LEDGER])
        assert delivered.delivered == {"webhook": 1}
        assert "chain_across_days" in hook.texts[0]


def test_a_failing_destination_answer_is_kept_for_later(tmp_path):
    register(tmp_path)
    store_findings(tmp_path, DAY, broken=True)
    with WebhookReceiver() as hook:
        hook.status = 503
        result = alert_pass(alerts(hook.url), pipeline(tmp_path), [LEDGER])
        assert result.failed == {"webhook": "webhook answered HTTP 503"}
        hook.status = 200
        later = pipeline(tmp_path, now=NOW + timedelta(minutes=5))
        assert alert_pass(alerts(hook.url), later, [LEDGER]).delivered == {"webhook": 1}
        assert len(hook.posts) == 1


def test_an_outage_alerts_once_and_resolves_once(tmp_path):
    register(tmp_path)
    with WebhookReceiver() as hook:
        settings = alerts(hook.url, VIPPS_UI_URL="http://ui")
        for hour in range(3):  # the hourly retries fail too: one message
            failed = RunOutcome("vipps_sync", f"run-{hour}", False, "3 ledger-day(s) failed: 503")
            alert_pass(settings, pipeline(tmp_path), [LEDGER], [failed])
        assert len(hook.posts) == 1
        assert "PROBLEM: the vipps_sync run failed" in hook.texts[0]
        assert "Open: http://ui/runs/run-0" in hook.texts[0]
        alert_pass(settings, pipeline(tmp_path), [LEDGER], [RunOutcome("vipps_sync", "r", True)])
        assert len(hook.posts) == 2 and "RESOLVED: the vipps_sync run failed" in hook.texts[1]


def test_rejected_credentials_are_their_own_alert(tmp_path):
    register(tmp_path)
    error = "authentication failed, stopping: the merchant token request was rejected with HTTP 401"
    with WebhookReceiver() as hook:
        rejected = RunOutcome("vipps_feed", "r1", False, error)
        alert_pass(alerts(hook.url), pipeline(tmp_path), [LEDGER], [rejected])
        [text] = hook.texts
    assert "PROBLEM: the Report API rejected the API keys" in text
    assert "VIPPS_CLIENT_SECRET" in text


def test_no_secret_reaches_a_message_the_record_or_a_log(tmp_path, caplog):
    register(tmp_path)
    store_findings(tmp_path, DAY, broken=True)
    caplog.set_level(logging.DEBUG)
    with WebhookReceiver() as hook:
        settings = alerts(hook.url, VIPPS_SMTP_USER="u", VIPPS_SMTP_PASSWORD="pw-9f8e7d")
        # an error text quoting a secret (it should never, but if it did) is scrubbed
        leaky = RunOutcome("vipps_sync", "r", False, f"posting to {hook.url} failed")
        result = alert_pass(settings, pipeline(tmp_path), [LEDGER], [leaky], secrets=["api-key-1"])
        assert result.delivered
        sent = json.dumps(hook.posts)
    record = (tmp_path / "alerts" / "sent.json").read_text()
    for secret in ("s3cr3t-token", "pw-9f8e7d"):
        assert secret not in sent + record + caplog.text + result.line() + repr(settings)


def test_no_destination_no_work(tmp_path):
    store_findings(tmp_path, DAY, broken=True)
    result = alert_pass(AlertSettings.from_env({}), pipeline(tmp_path), [LEDGER])
    assert result.off and not (tmp_path / "alerts").exists()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"VIPPS_ALERT_WEBHOOK_URL": "ftp://x/secret-path"}, "VIPPS_ALERT_WEBHOOK_URL must be"),
        ({"VIPPS_ALERT_EMAIL_TO": "a@b.c"}, "VIPPS_SMTP_HOST is not set"),
        ({"VIPPS_SMTP_PASSWORD": "pw"}, "VIPPS_SMTP_USER is not set"),
        ({"VIPPS_SMTP_PORT": "0"}, "VIPPS_SMTP_PORT must be between 1 and 65535"),
    ],
)
def test_bad_alert_settings_name_the_setting_not_the_value(env, named):
    from vipps_pipeline.settings import SettingsError

    with pytest.raises(SettingsError, match=named) as info:
        AlertSettings.from_env(env)
    assert "secret-path" not in str(info.value)
