"""The feed engine without Dagster: read until caught up, each entry stored once, the cursor
committed with its page, crashes between the two writes, the comparison with the closed day,
pruning and "today so far"."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.api.errors import BadFeed
from vipps_pipeline.feed import books as feed_books
from vipps_pipeline.feed import stream as feed
from vipps_pipeline.feed import today as feed_today
from vipps_pipeline.settings import TOPICS, ApiSettings, PipelineSettings
from vipps_pipeline.simulator import Simulator
from vipps_pipeline.sync.ingest import fetch_day
from vipps_pipeline_tests.support.clock import NOW, Clock, days
from vipps_pipeline_tests.support.feed import (
    START,
    assert_exactly_once,
    recent_world,
    stored,
    truth,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fsim(clock: Clock) -> Iterator[Simulator]:
    with Simulator(recent_world(), clock=clock) as s:
        s.faults.page_size = 40
        yield s


def make_env(sim: Simulator, data_dir: Path, clock: Clock, **extra: str) -> dict[str, str]:
    return {
        **sim.env("merchant"),
        "VIPPS_DATA_DIR": str(data_dir),
        "VIPPS_START_DATE": START.isoformat(),
        "VIPPS_NOW": clock().isoformat(),
        "VIPPS_HTTP_RETRIES": "6",
        **extra,
    }


@pytest.fixture
def setup(fsim: Simulator, tmp_path: Path, clock: Clock) -> Callable[..., tuple]:
    """(client, settings) for the simulator at the clock's current time."""

    def make(**extra: str) -> tuple[ReportClient, PipelineSettings]:
        env = make_env(fsim, tmp_path, clock, **extra)
        return ReportClient(ApiSettings.from_env(env)), PipelineSettings.from_env(env)

    return make


# --- reading -----------------------------------------------------------------------------
def test_a_pass_reads_until_caught_up_and_stores_every_entry_once(fsim, setup, tmp_path, clock):
    client, settings = setup()
    result = feed.catch_up(client, settings, "100001", "funds")
    assert result.caught_up and result.pages == result.requests > 10
    assert result.entries == sum(len(r) for r in truth(fsim.world, "100001", "funds", NOW).values())
    record = feed.Record.load(tmp_path, "100001", "funds")
    assert record.cursor and record.stored == result.entries
    assert record.newest_date == NOW.date() and record.newest_time <= NOW
    # nothing new: one request, nothing stored, the same cursor sent again
    again = feed.catch_up(client, settings, "100001", "funds")
    assert (again.requests, again.entries, again.caught_up) == (1, 0, True)
    _, path, query, _ = fsim.requests_log[-1]
    assert path.endswith("/100001/funds/feed") and query["cursor"] == [record.cursor]
    # two hours later: the entries of those two hours, and only those
    clock.at = NOW + timedelta(hours=2)
    client, settings = setup()
    later = feed.catch_up(client, settings, "100001", "funds")
    assert later.entries > 0 and set(later.added) == {NOW.date()}
    feed.catch_up(client, settings, "100001", "fees")
    assert assert_exactly_once(fsim, tmp_path, "100001", clock.at) > 1000


def test_the_feed_streams_open_dates_of_a_monthly_ledger(fsim, setup, tmp_path):
    """100004 settles monthly: every November date is open for the by-date endpoint, yet the
    feed delivers each as its entries happen."""
    client, settings = setup()
    for topic in TOPICS:
        assert feed.catch_up(client, settings, "100004", topic).caught_up
    assert len(stored(tmp_path, "100004", "funds")) == 24
    assert_exactly_once(fsim, tmp_path, "100004", NOW)


def test_a_new_ledger_starts_from_the_configured_date(fsim, setup, tmp_path):
    client, settings = setup(VIPPS_FEED_START_DATE="2026-11-20")
    result = feed.catch_up(client, settings, "100002", "funds")
    record = feed.Record.load(tmp_path, "100002", "funds")
    assert record.start_from == date(2026, 11, 20) and min(record.dates) == date(2026, 11, 20)
    every = truth(fsim.world, "100002", "funds", NOW)
    kept = {d: rows for d, rows in every.items() if d >= date(2026, 11, 20)}
    assert stored(tmp_path, "100002", "funds") == kept
    assert record.skipped == sum(len(r) for d, r in every.items() if d < date(2026, 11, 20))
    assert result.entries == record.stored == record.position - record.skipped


def test_transport_faults_on_the_feed_are_absorbed(fsim, setup, tmp_path):
    f = fsim.faults
    f.rate_limit_every, f.retry_after_seconds = 7, 0
    f.server_error_every, f.revoke_token_every, f.truncate_every = 9, 11, 13
    f.feed_empty_page_every, f.trailing_empty_page = 5, True
    client, settings = setup()
    for ledger_id in ("100001", "100002"):
        for topic in TOPICS:
            assert feed.catch_up(client, settings, ledger_id, topic).caught_up
        assert_exactly_once(fsim, tmp_path, ledger_id, NOW)
    hit = {k: fsim.counters[k] for k in ("429", "500", "revoked", "truncated", "feed_empty_pages")}
    assert all(hit.values()), hit


def test_gdpr_fields_only_when_asked(fsim, setup, tmp_path):
    client, settings = setup()
    feed.catch_up(client, settings, "100001", "funds")
    rows = pq.read_table(feed.feed_path(tmp_path, "funds", "100001", date(2026, 11, 20)))
    assert set(rows["name"].to_pylist()) == {None}
    client, settings = setup(VIPPS_INCLUDE_GDPR="true")
    feed.catch_up(client, settings, "100001", "fees")  # a fresh topic, read with the flag
    _, _, query, _ = fsim.requests_log[-1]
    assert query["includeGDPRSensitiveData"] == ["true"]


# --- crashes between the two writes -------------------------------------------------------
class Crash(Exception):
    pass


def crash_on(monkeypatch, target, name: str, every: int, after: bool = False) -> None:
    """Make ``target.name`` raise on about one call in ``every`` (seeded, so a page that
    touches two dates cannot crash at the same point forever), before doing its work or, with
    ``after``, once it is done."""
    original = getattr(target, name)
    rng = random.Random(every)

    def flaky(*args, **kwargs):
        crash = rng.random() < 1 / every
        if crash and not after:
            raise Crash(name)
        result = original(*args, **kwargs)
        if crash:
            raise Crash(f"after {name}")
        return result

    monkeypatch.setattr(target, name, flaky)


@pytest.mark.parametrize(
    ("where", "every"),
    [("commit", 3), ("second_date", 3), ("after_commit", 3)],
    ids=["data-written-cursor-not", "between-dates-of-a-page", "after-the-commit"],
)
def test_a_crash_between_pages_never_duplicates_or_skips(
    fsim, setup, tmp_path, monkeypatch, where, every
):
    fsim.faults.page_size = 17  # many pages span two dates
    if where == "commit":  # the data files are written, the cursor is not
        crash_on(monkeypatch, feed.Record, "save", every)
    elif where == "second_date":  # some of the page's dates are written, others not
        crash_on(monkeypatch, feed, "write_date", every)
    else:  # the page and its cursor are stored, the process dies before going on
        crash_on(monkeypatch, feed.Record, "save", every, after=True)
    client, settings = setup()
    crashes = 0
    for topic in TOPICS:
        for _ in range(500):
            try:
                if feed.catch_up(client, settings, "100001", topic).caught_up:
                    break
            except Crash:
                crashes += 1
    monkeypatch.undo()
    assert crashes > 5
    assert assert_exactly_once(fsim, tmp_path, "100001", NOW) > 1000


# --- bad pages ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: b["items"][0].pop("ledgerDate"), "field 'ledgerDate' must be a date"),
        (lambda b: b.pop("cursor"), "without a new cursor"),
        (lambda b: b.update(tryLater="true"), "field 'tryLater' must be true or false"),
        (lambda b: b["items"][0].update(amount=1.5), "field 'amount' must be an integer"),
    ],
    ids=["no-ledger-date", "no-cursor", "try-later-string", "float-amount"],
)
def test_a_bad_page_stores_nothing_and_keeps_the_cursor(
    fsim, setup, tmp_path, monkeypatch, change, problem
):
    client, settings = setup()
    feed.catch_up(client, settings, "100003", "funds")  # a good start
    before = feed.Record.load(tmp_path, "100003", "funds")
    files = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    original = fsim.feed
    fsim.faults.page_size = 5

    def broken(*args):
        body = original(*args)
        if body["items"]:
            change(body)
        return body

    monkeypatch.setattr(fsim, "feed", broken)
    fsim.clock.at = NOW + timedelta(hours=3)  # new entries to serve
    with pytest.raises((BadFeed, ValueError), match=problem):
        feed.catch_up(client, settings, "100003", "funds")
    assert feed.Record.load(tmp_path, "100003", "funds") == before
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")} == files


# --- polling ------------------------------------------------------------------------------
def test_polling_backs_off_while_nothing_is_new(setup):
    _, settings = setup()
    seen, interval = [], 0
    for added in (5, 0, 0, 0, 0, 0, 7, 0):
        interval = feed.next_interval(settings, interval, added, caught_up=True)
        seen.append(interval)
    assert seen == [300, 600, 1200, 1800, 1800, 1800, 300, 600]
    assert feed.next_interval(settings, 1800, 0, caught_up=False) == 0, "not caught up: go on"


# --- the closed day --------------------------------------------------------------------------
def store_reports(client: ReportClient, data_dir: Path, ledger_id: str, dates) -> None:
    for d in dates:
        for topic in TOPICS:
            fetch_day(client, data_dir, ledger_id, topic, d)


def findings(data_dir: Path, ledger_id: str) -> dict[tuple[date, str], dict]:
    out = {}
    for path in (data_dir / "feed_checks" / ledger_id).rglob("*.parquet"):
        for row in pq.read_table(path).to_pylist():
            out[(row["ledger_date"], row["topic"])] = row
    return out


def test_closed_dates_match_their_reports_and_are_pruned(fsim, setup, tmp_path):
    client, settings = setup()
    closed = days(START, date(2026, 11, 23))
    store_reports(client, tmp_path, "100001", closed)
    lp = feed_books.run_feed_pass(client, settings, "100001", settings.now())
    assert not lp.errors and len(lp.comparisons) == len(closed)
    found = findings(tmp_path, "100001")
    assert {r["status"] for r in found.values()} == {"pass"} and len(found) == 2 * len(closed)
    row = found[(date(2026, 11, 20), "funds")]
    assert row["check"] == "feed_matches_report" and row["expected"] == row["actual"] > 10
    # pruned: only today's provisional rows are left
    left = sorted(p.stem for p in (tmp_path / "feed").rglob("*.parquet"))
    assert left == ["2026-11-24", "2026-11-24"]
    today = pq.read_table(feed_today.today_path(tmp_path, "100001")).to_pylist()
    assert [(r["topic"], r["ledger_date"]) for r in today] == [
        ("fees", NOW.date()),
        ("funds", NOW.date()),
    ]
    funds = next(r for r in today if r["topic"] == "funds")
    truth_today = truth(fsim.world, "100001", "funds", NOW)[NOW.date()]
    assert funds["entries"] == len(truth_today)
    assert funds["running_balance"] == truth_today[-1]["balance_after"]
    assert funds["sum_amount"] == sum(r["amount"] for r in truth_today)
    assert dict(funds["count_by_type"])["capture"] > 0
    # nothing new: nothing compared again, today unchanged
    lp = feed_books.run_feed_pass(client, settings, "100001", settings.now())
    assert (lp.added, lp.comparisons, lp.today_changed) == (0, [], False)


@pytest.mark.parametrize(
    ("kind", "detail"),
    [
        ("missing", "is in the report but not in the feed"),
        ("order", "same entries in another order from seq 0"),
        ("amount", "differs: amount"),
    ],
)
def test_a_feed_that_differs_from_the_report_is_a_finding(fsim, setup, tmp_path, kind, detail):
    bad = date(2026, 11, 18)
    fsim.faults.feed_mismatch[("100002", bad)] = kind
    client, settings = setup()
    store_reports(client, tmp_path, "100002", days(date(2026, 11, 17), date(2026, 11, 19)))
    feed_books.run_feed_pass(client, settings, "100002", settings.now())
    found = findings(tmp_path, "100002")
    assert found[(bad, "funds")]["status"] == "fail" and detail in found[(bad, "funds")]["detail"]
    others = {k: r["status"] for k, r in found.items() if k != (bad, "funds")}
    assert set(others.values()) == {"pass"} and len(others) == 5
    kept = feed.feed_path(tmp_path, "funds", "100002", bad)
    assert kept.exists(), "a date that does not match keeps its provisional rows"
    assert not feed.feed_path(tmp_path, "fees", "100002", bad).exists()


def test_a_feed_behind_the_report_is_pending_then_fails(fsim, setup, tmp_path, monkeypatch):
    client, settings = setup()
    closed = date(2026, 11, 22)
    store_reports(client, tmp_path, "100005", [closed])
    original = fsim.world.feed_day

    def lagging(ledger_id, topic, d):  # the feed has not yet delivered the day's last entry
        day = original(ledger_id, topic, d)
        if d == closed and topic == "funds":
            return type(day)(day.entries[:-1], day.times[:-1])
        return day

    monkeypatch.setattr(fsim.world, "feed_day", lagging)
    lp = feed_books.run_feed_pass(client, settings, "100005", settings.now())
    [c] = [c for c in lp.comparisons if c.ledger_date == closed]
    assert c.status == "pending"
    assert "so far" in next(r for r in c.rows if r["topic"] == "funds")["detail"]
    fsim.clock.at = NOW + feed_books.BEHIND_GRACE + timedelta(minutes=1)
    client, settings = setup()
    lp = feed_books.run_feed_pass(client, settings, "100005", settings.now())
    [c] = [c for c in lp.comparisons if c.ledger_date == closed]
    assert c.status == "fail", c.rows


def test_prune_is_a_setting(fsim, setup, tmp_path):
    client, settings = setup(VIPPS_FEED_PRUNE="false")
    store_reports(client, tmp_path, "100007", [date(2026, 11, 16)])
    lp = feed_books.run_feed_pass(client, settings, "100007", settings.now())
    assert [c.status for c in lp.comparisons] == ["pass"] and not lp.comparisons[0].pruned
    kept = feed.feed_path(tmp_path, "funds", "100007", date(2026, 11, 16))
    assert kept.exists()
    # switched on later (or a crash between the comparison and the prune): the next pass
    # prunes what matched without comparing it again
    client, settings = setup(VIPPS_FEED_PRUNE="true")
    lp = feed_books.run_feed_pass(client, settings, "100007", settings.now())
    assert lp.comparisons == [] and not kept.exists()
