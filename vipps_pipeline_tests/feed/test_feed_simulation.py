"""The feed over days of simulated time: passes when the sensor would make them, the hourly
by-date sync beside it, every transport fault on, crashes between pages (in process, and a
process killed with SIGKILL): every entry stored once, every closed date matching its report.
The numbers of the closing note (requests per idle pass, the lag of an entry) come from here.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.defs.feed.jobs import DUE_SLACK
from vipps_pipeline.feed import books as feed_books
from vipps_pipeline.feed import stream as feed
from vipps_pipeline.settings import TOPICS, ApiSettings, PipelineSettings
from vipps_pipeline.simulator import Faults, Simulator
from vipps_pipeline.sync import engine as lr
from vipps_pipeline_tests.support.clock import NOW, Clock, days
from vipps_pipeline_tests.support.feed import START, assert_exactly_once, recent_world

LEDGERS = ["100001", "100004", "100007"]


class Crash(Exception):
    """The process dies here."""


def crashing(monkeypatch, rng: random.Random, p: float) -> list[str]:
    """Crash with probability ``p`` at each of the points between the writes of a page: before
    a date file is written, before the commit (data written), after the commit."""
    crashes: list[str] = []
    save, write_date = feed.Record.save, feed.write_date

    def maybe(where: str) -> None:
        if rng.random() < p:
            crashes.append(where)
            raise Crash(where)

    def flaky_save(self, data_dir):
        maybe("data written, cursor not")
        save(self, data_dir)
        maybe("after the commit")

    def flaky_write(*args, **kwargs):
        maybe("between the dates of a page")
        return write_date(*args, **kwargs)

    monkeypatch.setattr(feed.Record, "save", flaky_save)
    monkeypatch.setattr(feed, "write_date", flaky_write)
    return crashes


def settings_at(sim: Simulator, data_dir: Path, at: datetime, **extra: str) -> tuple:
    env = {
        **sim.env("merchant"),
        "VIPPS_DATA_DIR": str(data_dir),
        "VIPPS_START_DATE": START.isoformat(),
        "VIPPS_NOW": at.isoformat(),
        "VIPPS_FEED_PRUNE": "false",  # keep every row: the test compares them all
        **extra,
    }
    return ReportClient(ApiSettings.from_env(env)), PipelineSettings.from_env(env)


def by_date_sync(client, settings, ledger_id: str) -> None:
    """What the hourly sync does for the reports: from the frontier up to yesterday."""
    yesterday = settings.today() - timedelta(days=1)
    work = lr.Work(
        ledger_id, tuple(days(START, yesterday)), statements=False, findings=False, sync=True
    )
    for event in lr.run_ledger(work, client=client, settings=settings, breaker=lr.Breaker(99)):
        assert not isinstance(event, lr.DayFailed), event


@pytest.mark.slow
@pytest.mark.parametrize(
    ("max_poll", "hours"), [(1800, 48), (300, 12)], ids=["default-backoff", "max-poll-300"]
)
def test_the_feed_over_days_with_crashes_keeps_every_entry_once(
    tmp_path, monkeypatch, max_poll, hours
):
    faults = Faults.all_transport_faults(page_size=25)
    faults.not_ready_polls = 0
    faults.retry_after_seconds = 0
    # a 429 and a 500 never hit the same request twice in a row (that would make urllib3 back
    # off for a second or two, which only slows the test down)
    faults.rate_limit_every, faults.server_error_every = 10, 20
    clock = Clock(datetime(2026, 11, 20, 6, 0, tzinfo=UTC))
    end = clock.at + timedelta(hours=hours)
    poll = {"VIPPS_FEED_MAX_POLL_SECONDS": str(max_poll)}
    rng = random.Random(13)
    world = recent_world(faults=faults)
    passes = 0
    with Simulator(world, clock=clock) as sim:
        crashes = crashing(monkeypatch, rng, p=0.03)
        next_sync = clock.at.replace(minute=17)
        while clock.at < end:
            client, settings = settings_at(sim, tmp_path, clock.at, **poll)
            if clock.at >= next_sync:  # the hourly by-date sync at :17
                for ledger_id in LEDGERS:
                    by_date_sync(client, settings, ledger_id)
                next_sync += timedelta(hours=1)
            for ledger_id in LEDGERS:  # what the sensor's run does with the ledgers due
                if feed.Schedule.load(tmp_path, ledger_id).due(clock.at, DUE_SLACK):
                    passes += 1
                    with contextlib.suppress(Crash):
                        feed_books.run_feed_pass(client, settings, ledger_id, clock.at)
            due = min(feed.Schedule.load(tmp_path, lid).next_poll_at for lid in LEDGERS)
            clock.at = max(min(due - DUE_SLACK, next_sync), clock.at + timedelta(seconds=30))
        monkeypatch.undo()
        # a last sync and pass with nothing crashing, then the proof
        client, settings = settings_at(sim, tmp_path, clock.at, **poll)
        for ledger_id in LEDGERS:
            by_date_sync(client, settings, ledger_id)
            feed_books.run_feed_pass(client, settings, ledger_id, clock.at)
        entries = sum(assert_exactly_once(sim, tmp_path, lid, clock.at) for lid in LEDGERS)
        findings = [
            row
            for path in (tmp_path / "feed_checks").rglob("*.parquet")
            for row in pq.read_table(path).to_pylist()
        ]
        reports = list((tmp_path / "reports/funds").rglob("*.parquet"))
        assert {f["status"] for f in findings} == {"pass"}
        assert len(findings) == 2 * len(reports) > 2 * 20, "every closed date compared"
        # the lag: how long after its time (when the simulator starts serving it) each entry
        # that appeared during the run was stored
        lags = []
        for ledger_id in LEDGERS:
            for topic in TOPICS:
                for path in (tmp_path / "feed" / topic / ledger_id).rglob("*.parquet"):
                    table = pq.read_table(path, columns=["time", "stored_at"]).to_pylist()
                    lags += [
                        (r["stored_at"] - r["time"]).total_seconds()
                        for r in table
                        if r["time"] >= datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
                    ]
        # an idle pass: one request per topic, nothing else (faults off, token cached)
        for name in ("rate_limit_every", "server_error_every", "revoke_token_every"):
            setattr(faults, name, 0)
        faults.truncate_every = faults.feed_empty_page_every = 0
        client, settings = settings_at(sim, tmp_path, clock.at)
        client.token()
        before = len(sim.requests_log)
        idle = feed_books.run_feed_pass(client, settings, "100001", clock.at)
        idle_requests = list(sim.requests_log)[before:]
    assert idle.added == 0 and len(idle_requests) == 2, idle_requests
    assert all(path.endswith("/feed") for _, path, _, _ in idle_requests)
    # at most the longest interval (nothing new for a while), plus one short one when the
    # pass that was due crashed
    assert max(lags) <= max_poll + 300, "VIPPS_FEED_MAX_POLL_SECONDS, plus a crashed pass"
    print(
        f"\nmax poll {max_poll} s: {passes} passes over {hours} h x {len(LEDGERS)} ledgers, "
        f"{len(crashes)} crashes "
        f"({', '.join(sorted(set(crashes)))}), {entries} entries stored once, "
        f"{len(findings)} closed ledger-day topics matching their reports; lag of "
        f"{len(lags)} entries: median {statistics.median(lags):.0f} s, "
        f"p95 {sorted(lags)[int(len(lags) * 0.95)]:.0f} s, max {max(lags):.0f} s; "
        f"idle pass: {len(idle_requests)} requests for 2 topics"
    )
    assert len(crashes) >= 5 and len(set(crashes)) == 3


CHILD = """
import os, sys
from vipps_pipeline.feed import stream as feed
from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings, PipelineSettings
client = ReportClient(ApiSettings.from_env(os.environ))
settings = PipelineSettings.from_env(os.environ)
for topic in ("funds", "fees"):
    while not feed.catch_up(client, settings, sys.argv[1], topic).caught_up:
        pass
print("caught up")
"""


@pytest.mark.slow
@pytest.mark.fsync
def test_a_process_killed_mid_pass_resumes_without_duplicate_or_gap(tmp_path):
    world = recent_world(faults=Faults(page_size=4, slow_every=1, slow_seconds=0.01))
    with Simulator(world, clock=lambda: NOW) as sim:
        env = {
            "PATH": os.environ["PATH"],
            **sim.env("merchant"),
            "VIPPS_DATA_DIR": str(tmp_path),
            "VIPPS_START_DATE": START.isoformat(),
            "VIPPS_NOW": NOW.isoformat(),
        }
        rng = random.Random(7)
        kills = 0
        for _ in range(8):
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, "100002"], env=env, stdout=subprocess.PIPE
            )
            time.sleep(rng.uniform(0.8, 2.0))
            if child.poll() is not None:
                break
            child.send_signal(signal.SIGKILL)
            child.wait()
            kills += 1
        child = subprocess.run(
            [sys.executable, "-c", CHILD, "100002"], env=env, capture_output=True, timeout=300
        )
        assert child.returncode == 0 and b"caught up" in child.stdout, child.stderr[-2000:]
        entries = assert_exactly_once(sim, tmp_path, "100002", NOW)
        record = feed.Record.load(tmp_path, "100002", "funds")
    assert kills >= 4 and record.pages > 100
    print(f"\nkilled {kills} times mid-pass; {entries} entries stored exactly once")


def test_the_time_an_entry_appears_in_the_simulator_is_its_time(tmp_path):
    """What the lag is measured from: an entry is served from its own ``time`` on."""
    world = recent_world()
    day = world.feed_day("100001", "funds", date(2026, 11, 24))
    t = datetime.fromisoformat(day.entries[5]["time"].replace("Z", "+00:00"))
    assert day.visible_count(t - timedelta(microseconds=1)) == 5
    assert day.visible_count(t) == 6
