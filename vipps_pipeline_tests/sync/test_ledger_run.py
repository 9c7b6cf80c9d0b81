"""One ledger's work without Dagster: the walk, the breaker, the chunks, the sync mode."""

from __future__ import annotations

import time
from datetime import date

import pytest

from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.sync import engine as lr
from vipps_pipeline_tests.support.clock import NOW, days


def settings(data_dir, **extra: str) -> PipelineSettings:
    return PipelineSettings.from_env(
        {
            "VIPPS_DATA_DIR": str(data_dir),
            "VIPPS_START_DATE": "2026-09-01",
            "VIPPS_NOW": NOW.isoformat(),
            **extra,
        }
    )


def run(work: lr.Work, client, data_dir, breaker=None, **extra) -> list[lr.Event]:
    breaker = breaker or lr.Breaker(3)
    return list(
        lr.run_ledger(work, client=client, settings=settings(data_dir, **extra), breaker=breaker)
    )


def of(events, kind) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_the_walk_stops_at_the_first_date_not_ready(sim, client, tmp_path):
    work = lr.Work("100004", tuple(days(date(2026, 10, 28), date(2026, 11, 20))))
    events = run(work, client, tmp_path)
    stored = of(events, lr.ReportStored)
    assert {e.ledger_date for e in stored} == set(days(date(2026, 10, 28), date(2026, 10, 31)))
    [funds, fees] = sorted(of(events, lr.NotReadyFound), key=lambda e: e.probe.topic, reverse=True)
    assert funds.probe.ledger_date == date(2026, 11, 1) and funds.not_asked == 19
    assert fees.probe.topic == "fees" and fees.probe.ledger_date == date(2026, 11, 1)
    assert sim.counters["report_pages"] == 4 * 2 + 2, "one request per topic for the open month"
    assert len(of(events, lr.FindingsStored)) == 4 and not of(events, lr.DayFailed)


def test_sync_mode_fetches_nothing_already_stored(sim, client, tmp_path):
    work = lr.Work("100001", tuple(days(date(2026, 11, 1), date(2026, 11, 5))))
    run(work, client, tmp_path)
    asked = sim.counters["report_pages"]
    again = run(lr.Work(work.ledger_id, work.dates, sync=True), client, tmp_path)
    assert sim.counters["report_pages"] == asked
    assert not of(again, lr.ReportStored) and not of(again, lr.FindingsStored)


def test_statements_and_findings_are_built_a_month_at_a_time(sim, client, tmp_path):
    work = lr.Work("100002", tuple(days(date(2026, 9, 1), date(2026, 11, 10))))
    events = run(work, client, tmp_path)
    assert len(of(events, lr.ChunkDone)) == 3
    assert len(of(events, lr.StatementStored)) == 71
    findings = of(events, lr.FindingsStored)
    assert {e.ledger_date for e in findings} == set(work.dates)
    # the last days of a month are recomputed once the next month's fees are in
    assert len(findings) == 71 + 2 * 2


def test_an_outage_stops_the_work_after_three_failed_days(sim, make_client, tmp_path):
    client = make_client(VIPPS_HTTP_RETRIES="1")
    sim.faults.server_error_every = 1
    started = time.monotonic()
    events: list[lr.Event] = []
    with pytest.raises(lr.Outage, match="3 ledger-days failed in a row"):
        for event in lr.run_ledger(
            lr.Work("100001", tuple(days(date(2026, 10, 1), date(2026, 11, 20)))),
            client=client,
            settings=settings(tmp_path),
            breaker=lr.Breaker(3),
        ):
            events.append(event)
    assert len(of(events, lr.DayFailed)) == 3
    assert time.monotonic() - started < 30


def test_rejected_credentials_stop_at_once(sim, make_client, tmp_path):
    client = make_client(VIPPS_CLIENT_SECRET="revoked-secret")
    with pytest.raises(lr.Outage, match="authentication failed"):
        run(lr.Work("100001", tuple(days(date(2026, 10, 1), date(2026, 11, 20)))), client, tmp_path)
    assert sim.counters["token_merchant"] == 0 and len(sim.requests_log) == 1


def test_a_forbidden_ledger_stops_that_ledger_only(sim, client, tmp_path):
    sim.faults.forbidden_ledgers = {"100003"}
    breaker = lr.Breaker(3)
    events = run(
        lr.Work("100003", (date(2026, 11, 1), date(2026, 11, 2))), client, tmp_path, breaker
    )
    assert len(of(events, lr.DayFailed)) == 1 and breaker.in_a_row == 0
    assert len(run(lr.Work("100001", (date(2026, 11, 1),)), client, tmp_path, breaker)) > 1
