"""Walking ahead: the next step's first page is asked for while the current one is written,
and never a page the walk would not have asked for."""

from __future__ import annotations

import time
from datetime import date

from vipps_pipeline.sync.ahead import Lookahead

D1, D2 = date(2026, 11, 2), date(2026, 11, 3)
ORDER = [(D1, "funds"), (D1, "fees"), (D2, "funds"), (D2, "fees")]


def asked(sim, topic: str, day: date) -> int:
    return sum(1 for r in list(sim.requests_log) if f"/{topic}/dates/{day}" in r[1])


def wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_next_step_is_asked_for_while_the_current_one_is_written(sim, client):
    ahead = Lookahead(client, "100001", ORDER)
    assert ahead.take(D1, "funds") is None, "nothing ahead before the walk has stored a day"
    pages = list(client.iter_report_pages("100001", "funds", D1))
    ahead.stored(D1, "funds")
    assert wait_for(lambda: asked(sim, "fees", D1) == 1), "the next step asked for at once"
    walk = ahead.take(D1, "fees")
    assert walk is not None
    assert wait_for(lambda: asked(sim, "funds", D2) == 1), "and the one after it"
    fees = list(client.iter_report_pages("100001", "fees", D1, walk))
    assert asked(sim, "fees", D1) == 1, "the page asked for ahead is the page walked"
    assert pages and fees and sum(len(p.items) for p in fees) > 0
    ahead.close()


def test_nothing_is_asked_beyond_a_day_not_known_to_be_final(sim, client):
    ahead = Lookahead(client, "100001", ORDER)
    ahead.take(D1, "funds")
    ahead.stored(D1, "funds")
    assert wait_for(lambda: asked(sim, "fees", D1) == 1)
    ahead.take(D1, "fees").close()  # say D1's fees turned out not final: not stored
    assert wait_for(lambda: asked(sim, "funds", D2) == 1), "funds stored D1: D2 is sure"
    ahead.take(D2, "funds").close()
    time.sleep(0.3)
    assert asked(sim, "fees", D2) == 0, "D1's fees not stored: D2's is never asked ahead"
    ahead.close()


def test_a_walk_that_stored_nothing_asks_nothing_ahead(sim, client):
    ahead = Lookahead(client, "100001", ORDER)
    for day, topic in ORDER:
        assert ahead.take(day, topic) is None
    time.sleep(0.2)
    assert not [r for r in list(sim.requests_log) if "/dates/" in r[1]]


def test_tokens_revoked_under_requests_in_flight_side_by_side(sim, client, tmp_path):
    """Two requests in flight share a token: one's 401 replaces the token the other's retry
    used, and the API revokes that one too. Each request refreshes once per token refused."""
    from vipps_pipeline.settings import PipelineSettings
    from vipps_pipeline.sync import engine as lr
    from vipps_pipeline_tests.support.clock import NOW, days

    sim.faults.revoke_token_every = 2
    settings = PipelineSettings.from_env(
        {
            "VIPPS_DATA_DIR": str(tmp_path),
            "VIPPS_START_DATE": "2026-10-01",
            "VIPPS_NOW": NOW.isoformat(),
        }
    )
    work = lr.Work("100001", tuple(days(date(2026, 10, 1), date(2026, 10, 31))))
    events = list(lr.run_ledger(work, client=client, settings=settings, breaker=lr.Breaker(3)))
    assert not [e for e in events if isinstance(e, lr.DayFailed)]
    assert len([e for e in events if isinstance(e, lr.ReportStored)]) == 2 * 31
    assert sim.counters["revoked"] >= 20
