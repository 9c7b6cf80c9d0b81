"""The completeness model and the planner, as plain Python: no Dagster, no HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from vipps_pipeline.store.state import LedgerState, Probe, schedule_of
from vipps_pipeline.sync import completeness, planner
from vipps_pipeline_tests.support.clock import days

START = date(2026, 8, 1)
REPORTS = ("reports/funds", "reports/fees")


def inventory(stored: dict[str, dict[date, int]]) -> completeness.Inventory:
    return completeness.Inventory("100001", {k: dict(v) for k, v in stored.items()})


def reports(dates, t: int = 10) -> dict[str, dict[date, int]]:
    return {k: dict.fromkeys(dates, t) for k in REPORTS}


def probe(topic: str, d: date, reason: str = "tryLater") -> Probe:
    seen = datetime(2026, 11, 1, tzinfo=UTC)
    return Probe(topic, d, reason, "No such ledgerId" if reason == "404" else "", seen, seen)


def test_final_through_and_frontier():
    stored = set(days(START, date(2026, 8, 10))) | {date(2026, 8, 12)}
    assert completeness.final_through(stored, START) == date(2026, 8, 10)
    assert completeness.frontier(stored, START) == date(2026, 8, 11), "a hole stops it"
    assert completeness.final_through(set(), START) is None
    assert completeness.frontier({date(2026, 8, 2)}, START) == START


def test_the_plan_walks_from_the_frontier_however_old_no_lookback():
    inv = inventory(reports(days(START, date(2026, 8, 24))))
    plan = planner.plan_ledger(inv, LedgerState(), start=START, until=date(2026, 11, 23), window=3)
    assert plan.final_through == date(2026, 8, 24)
    assert plan.fetch[0] == date(2026, 8, 25) and plan.fetch[-1] == date(2026, 11, 23)
    assert len(plan.fetch) == 91, "a date open for three months is still fetched"
    up_to_date = planner.plan_ledger(
        inv, LedgerState(), start=START, until=date(2026, 8, 24), window=3
    )
    assert up_to_date.fetch == ()
    assert up_to_date.has_work, "no statements yet: derived files are due"
    inv.files["statements"] = dict.fromkeys(inv.dates("reports/funds"), 20)
    inv.files["reconciliation"] = dict.fromkeys(inv.dates("reports/funds"), 30)
    inv.files["journal"] = dict.fromkeys(inv.dates("reports/funds"), 20)
    done = planner.plan_ledger(inv, LedgerState(), start=START, until=date(2026, 8, 24), window=3)
    assert not done.has_work


def test_each_topic_has_its_own_frontier_and_the_walk_starts_at_the_earliest():
    files = reports(days(START, date(2026, 8, 20)))
    files["reports/fees"] = dict.fromkeys(days(START, date(2026, 8, 15)), 10)
    plan = planner.plan_ledger(
        inventory(files), LedgerState(), start=START, until=date(2026, 8, 22), window=3
    )
    by_topic = {t.topic: t.frontier for t in plan.topics}
    assert by_topic == {"funds": date(2026, 8, 21), "fees": date(2026, 8, 16)}
    assert plan.fetch[0] == date(2026, 8, 16) and plan.final_through == date(2026, 8, 15)


def test_stale_statements_and_findings_follow_modification_times():
    dates = days(START, date(2026, 8, 10))
    files = reports(dates, t=10)
    files["statements"] = dict.fromkeys(dates, 20)
    files["reconciliation"] = dict.fromkeys(dates, 30)
    inv = inventory(files)
    assert completeness.stale_days(inv, 3) == ([], [])
    # a report re-fetched later makes its statement stale, and the findings of every day whose
    # fee window reaches it
    inv.record("reports/fees", date(2026, 8, 5), 40)
    statements, findings = completeness.stale_days(inv, 3)
    assert statements == [date(2026, 8, 5)]
    assert findings == days(date(2026, 8, 3), date(2026, 8, 7))
    # a statement rewritten later makes the findings of the days after it stale (the balance
    # chain may reach back across quiet days) but not the days before it
    inv = inventory({**files, "statements": {**files["statements"], date(2026, 8, 8): 50}})
    _, findings = completeness.stale_days(inv, 3)
    assert findings == [date(2026, 8, 8), date(2026, 8, 9), date(2026, 8, 10)]
    # reports without statements: both are due; findings never without a statement
    inv = inventory(reports(dates))
    statements, findings = completeness.stale_days(inv, 3)
    assert statements == dates and findings == dates


def test_freshness_open_is_normal_stale_is_a_warning_a_lasting_404_an_error():
    today = date(2026, 11, 24)

    def fresh(final: date, probes: dict[str, Probe]):
        inv = inventory(reports(days(START, final)))
        plan = planner.plan_ledger(
            inv, LedgerState(probes=probes), start=START, until=today - timedelta(days=1), window=3
        )
        return planner.freshness(plan, today=today, stale_days=62, persistent_404_days=7)

    assert fresh(date(2026, 11, 23), {}).status == "ok"
    monthly = fresh(date(2026, 10, 31), {t: probe(t, date(2026, 11, 1)) for t in ("funds", "fees")})
    assert monthly.status == "open" and monthly.open_since == date(2026, 11, 1)
    negative = fresh(date(2026, 9, 1), {"funds": probe("funds", date(2026, 9, 2))})
    assert negative.status == "stale" and "VIPPS_STALE_DAYS" in negative.detail
    foreign = fresh(date(2026, 8, 1), {"funds": probe("funds", date(2026, 8, 2), "404")})
    assert foreign.status == "not_yours"
    assert "No such ledgerId" in foreign.detail and "may not belong" in foreign.detail
    # far behind but never told "not ready": a new ledger being backfilled, not an alarm
    assert fresh(date(2026, 8, 1), {}).status == "catching_up"
    # a probe of another date than the frontier is old news: it does not count
    moved_on = fresh(date(2026, 11, 23), {"funds": probe("funds", date(2026, 11, 1))})
    assert moved_on.status == "ok"


def test_the_open_text_follows_the_ledgers_learned_payout_schedule():
    today = date(2026, 11, 24)

    def said(final: date, schedule: str | None, payouts: tuple[date, ...] = ()) -> str:
        ledger = LedgerState(
            probes={t: probe(t, final + timedelta(days=1)) for t in ("funds", "fees")},
            schedule=schedule or schedule_of(payouts),
        )
        inv = inventory(reports(days(START, final)))
        plan = planner.plan_ledger(inv, ledger, start=START, until=today, window=3)
        return planner.freshness(plan, today=today, stale_days=62, persistent_404_days=7).detail

    daily = tuple(days(date(2026, 11, 1), date(2026, 11, 22)))
    monthly = (date(2026, 8, 31), date(2026, 9, 30), date(2026, 10, 31))
    assert said(date(2026, 11, 22), None, daily).endswith(
        "normal for daily settlement (dates close at the period's payout)"
    )
    assert "longer than daily settlement explains" in said(date(2026, 11, 1), "daily")
    assert "normal for monthly settlement" in said(date(2026, 10, 31), None, monthly)
    assert "not learned yet" in said(date(2026, 10, 31), None, monthly[:1])


def _store(data, kind: str, ledger_date: date) -> None:
    """A file put in place as the writers do it: a temporary renamed over the final name."""
    from vipps_pipeline.store.atomic import atomic_file
    from vipps_pipeline.store.paths import day_path

    path = day_path(data, kind, "100001", ledger_date)
    with atomic_file(path) as tmp:
        tmp.write_bytes(b"")
    _now(path, path.parent)


def _now(*paths) -> None:
    """Stamp what a test just changed with the test's wall clock: the same instant the file
    system gave it, unless the suite runs with its clock moved (``VIPPS_TEST_DAYS_AHEAD``)."""
    import os

    now = datetime.now(UTC).timestamp()
    for path in paths:
        os.utime(path, (now, now))


def _age(data, seconds: int) -> None:
    """Every folder and file under ``data`` last changed ``seconds`` ago (older than the racy
    window, as a folder is by the sensor's next tick)."""
    import os

    then = datetime.now(UTC).timestamp() - seconds
    for path in [data, *data.rglob("*")]:
        os.utime(path, (then, then))


def test_an_unchanged_ledger_is_planned_from_its_folder_times_without_a_scan(tmp_path, monkeypatch):
    data = tmp_path / "data"
    for d in days(START, date(2026, 8, 10)):
        for kind in REPORTS:
            _store(data, kind, d)
    _age(data, 60)
    scans: list[str] = []
    real_scan = completeness.scan
    monkeypatch.setattr(completeness, "scan", lambda *a, **k: scans.append(a[1]) or real_scan(*a))
    kwargs = {"start": START, "until": date(2026, 8, 12), "window": 3}

    first = planner.plan_stored(data, "100001", **kwargs)
    again = planner.plan_stored(data, "100001", **kwargs)
    assert first.frontier == date(2026, 8, 11) and again == first
    assert len(scans) == 1, "the second plan came from the folder times"

    _store(data, "reports/funds", date(2026, 8, 11))  # just now: inside the racy window
    _store(data, "reports/fees", date(2026, 8, 11))
    fresh = planner.plan_stored(data, "100001", **kwargs)
    assert fresh.frontier == date(2026, 8, 12) and len(scans) == 2
    assert planner.plan_stored(data, "100001", **kwargs) == fresh
    assert len(scans) == 3, "a folder changed in the last two seconds is scanned every time"

    _age(data, 30)
    assert planner.plan_stored(data, "100001", **kwargs) == fresh
    assert planner.plan_stored(data, "100001", **kwargs) == fresh
    assert len(scans) == 4, "once settled, one scan, then the folder times again"

    (data / "reports/funds/100001/2026/2026-08-11.parquet").unlink()  # a file removed
    _age(data, 20)
    assert planner.plan_stored(data, "100001", **kwargs).frontier == date(2026, 8, 11)
    assert planner.plan_stored(data, "100001", **kwargs | {"until": date(2026, 8, 13)}).fetch == (
        date(2026, 8, 11),
        date(2026, 8, 12),
        date(2026, 8, 13),
    ), "another day is another plan"
    assert len(scans) == 6


def test_a_state_file_change_or_a_new_year_folder_changes_the_fingerprint(tmp_path):
    from vipps_pipeline.store.atomic import write_json
    from vipps_pipeline.store.paths import state_path

    data = tmp_path / "data"
    _store(data, "reports/funds", date(2025, 12, 31))
    _age(data, 60)
    before = completeness.fingerprint(data, "100001")
    assert before is not None
    write_json(state_path(data, "100001"), {"probes": {}})
    _now(state_path(data, "100001"))
    assert completeness.fingerprint(data, "100001") is None, "changed just now: not trusted"
    _age(data, 60 - 1)
    with_state = completeness.fingerprint(data, "100001")
    assert with_state not in (None, before)
    _store(data, "reports/funds", date(2026, 1, 1))
    _age(data, 60 - 2)
    years = dict(completeness.fingerprint(data, "100001"))["reports/funds"]
    assert [name for name, _ in years] == ["2025", "2026"]


@pytest.mark.slow
def test_the_sync_command_explains_an_open_date_by_each_ledgers_own_schedule(tmp_path):
    """At 00:17 in Oslo on 1 November: the daily ledger's 31 October closes within the hour,
    the monthly ledger's October at its payout, and the daily ledger in a negative-balance
    episode has been open since 1 September. Each schedule is learned from stored payouts."""
    from vipps_pipeline.simulator import Simulator, World
    from vipps_pipeline.store.state import load
    from vipps_pipeline_tests.support.cli import cli

    clock = datetime(2026, 10, 31, 23, 17, tzinfo=UTC)
    with Simulator(World(seed=0), clock=lambda: clock) as sim:
        env = {
            **sim.env("merchant"),
            "VIPPS_DATA_DIR": str(tmp_path / "data"),
            "VIPPS_START_DATE": "2026-08-25",
            "VIPPS_NOW": clock.isoformat(),
        }
        ledgers = [a for lid in ("100001", "100004", "100006") for a in ("--ledger", lid)]
        home = ("--dagster-home", str(tmp_path / "home"))
        result = cli("sync", *ledgers, *home, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    said = {line.split()[0]: line.split(": ", 1)[1] for line in result.stdout.splitlines()[2:]}
    assert said == {
        "100001": "open since 2026-10-31 (1 days): normal for daily settlement (dates close "
        "at the period's payout)",
        "100004": "open since 2026-10-01 (31 days): normal for monthly settlement (dates close "
        "at the period's payout)",
        "100006": "open since 2026-09-01 (61 days): longer than daily settlement explains: the "
        "payout is held (a negative balance stays open until a top-up clears it)",
    }
    schedules = {lid: load(tmp_path / "data", lid).schedule for lid in said}
    assert schedules == {"100001": "daily", "100004": "monthly", "100006": "daily"}
