"""A ledger-day whose stored journal does not balance, or does not tie to its statement, is
told once as a failed ``journal_balances`` check and resolved once; a balanced day that booked
an unknown entry type to suspense (a warning) is never told."""

from __future__ import annotations

from datetime import timedelta

from vipps_pipeline.alerts.notify import alert_pass
from vipps_pipeline_tests.support.alerting import (
    DAY,
    LEDGER,
    alerts,
    pipeline,
    register,
    store_journal,
    store_statement,
)
from vipps_pipeline_tests.support.receivers import WebhookReceiver


def test_an_unbalanced_journal_alerts_once_and_its_rebooking_resolves_it(tmp_path):
    register(tmp_path)
    with WebhookReceiver() as hook:
        settings = alerts(hook.url, VIPPS_UI_URL="http://dagster.example:3000")
        store_journal(tmp_path, DAY, credit=120_000)
        first = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert (first.new, first.delivered) == (1, {"webhook": 1})
        [text] = hook.texts
        assert "PROBLEM: check journal_balances failed · ledger 100001 (ACME Fitness)" in text
        assert "ledger date 2026-11-20" in text
        assert "Expected: the day's journal balances and ties to its reports" in text
        assert "Found: debits 1234.56 NOK, credits 1200.00 NOK" in text
        assert "vipps-pipeline run --start 2026-11-20 --end 2026-11-20 --ledger 100001" in text
        assert "chart of accounts" in text
        link = "http://dagster.example:3000/assets/journal?view=partitions"
        assert f"{link}&partition=2026-11-20%7C100001" in text

        # the same journal written again by the next sync: silence
        store_journal(tmp_path, DAY, credit=120_000)
        again = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert (again.new, again.resolved, len(hook.posts)) == (0, 0, 1)

        store_journal(tmp_path, DAY)
        fixed = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert (fixed.new, fixed.resolved, len(hook.posts)) == (0, 1, 2)
        assert hook.texts[1].startswith("vipps_pipeline: 1 resolved")
        assert "RESOLVED: check journal_balances failed" in hook.texts[1]

        alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert len(hook.posts) == 2


def test_a_suspense_booking_is_quiet_and_a_statement_that_moves_away_alerts(tmp_path):
    register(tmp_path)
    other = DAY + timedelta(days=1)
    with WebhookReceiver() as hook:
        settings = alerts(hook.url)
        store_journal(tmp_path, DAY, unmapped=True)  # balanced and tied: a WARN, not an alert
        store_journal(tmp_path, other)
        quiet = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert (quiet.new, hook.posts) == (0, [])

        # only the statement is written again (the report fetched anew): the journal is read
        store_statement(tmp_path, other, moved=130_000)
        untied = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert untied.new == 1
        [text] = hook.texts
        assert "ledger date 2026-11-21" in text and "2026-11-20" not in text
        assert "funds ledger account 1580 to move 1300.00 NOK as its report did" in text
        assert "Found: account 1580 moved 1234.56 NOK" in text
