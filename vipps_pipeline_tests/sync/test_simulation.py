"""Months of simulated time: the sync, polled daily, against the vendor's documented cases.

A monthly-settlement ledger (every date open until its month closes), a ledger whose balance
goes negative for two months (every date open until a top-up clears it), a ten-day outage of
the whole API, and a ledger that appears half-way with a long history. No lookback window:
every closed day must be stored, once, with its statement and findings, however late it
closed; polls of an open ledger cost one request per topic; only the outage fails runs.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow.dataset as ds
import pytest

from vipps_pipeline.simulator import LEDGERS, Faults, Simulator, World
from vipps_pipeline.store.schemas import FINDING_SCHEMA
from vipps_pipeline_tests.support.clock import days
from vipps_pipeline_tests.support.dagster import assert_status_equals_files, make_defs, stored, sync
from vipps_pipeline_tests.support.truth import compare_with_truth

OSLO = ZoneInfo("Europe/Oslo")
START = date(2026, 8, 1)
# from the last August close to the first days of November, when the monthly ledger's October
# and the negative-balance episode (1 September to 31 October) have both closed
FIRST_POLL, LAST_POLL = date(2026, 9, 1), date(2026, 11, 5)
OUTAGE = (datetime(2026, 9, 10, tzinfo=UTC), datetime(2026, 9, 20, tzinfo=UTC))
NEW_LEDGER = replace(
    LEDGERS[0],
    ledger_id="100009",
    start=date(2024, 11, 1),
    listed_from=datetime(2026, 10, 1, tzinfo=UTC),
    extras=frozenset(),
)
LEDGER_PATH = re.compile(r"^/report/v2/ledgers/([^/]+)/")


@pytest.mark.slow
@pytest.mark.heavy
def test_months_of_daily_polls_store_every_closed_day_once(tmp_path):
    specs = [s for s in LEDGERS if s.ledger_id in ("100001", "100004", "100006")]
    world = World(seed=0, ledgers=[*specs, NEW_LEDGER], faults=Faults(outage=OUTAGE))
    clock = [datetime.combine(FIRST_POLL, datetime.min.time(), OSLO)]
    first_stored: dict[tuple[str, date], datetime] = {}
    per_poll_requests: list[tuple[datetime, str, int, int]] = []  # when, ledger, asked, stored
    failed, outcomes = [], Counter()
    started = time.monotonic()
    with Simulator(world, clock=lambda: clock[0]) as sim, dg.instance_for_test() as instance:
        for day in days(FIRST_POLL, LAST_POLL):
            clock[0] = datetime.combine(day, datetime.min.time(), OSLO).replace(hour=6, minute=17)
            defs = make_defs(
                sim,
                tmp_path,
                api={"http_retries": "1"},
                start_date=START.isoformat(),
                now=clock[0].isoformat(),
            )
            if day == FIRST_POLL or day.day in (1, 8, 15, 22):  # the ledger list, weekly
                defs.resolve_job_def("refresh_ledgers").execute_in_process(
                    instance=instance, raise_on_error=False
                )
            seen = len(sim.requests_log)
            before = stored(tmp_path, "reports/funds")
            result = sync(defs, instance)
            outcomes[result.success] += 1
            if not result.success:
                failed.append(clock[0])
            asked = Counter(
                m[1] for r in list(sim.requests_log)[seen:] if (m := LEDGER_PATH.match(r[1]))
            )
            new = stored(tmp_path, "reports/funds") - before
            for partition in new:
                d, ledger_id = partition.split("|")
                first_stored[(ledger_id, date.fromisoformat(d))] = clock[0]
            for ledger_id in sorted({s.ledger_id for s in world.ledgers.values()}):
                gained = sum(p.endswith(f"|{ledger_id}") for p in new)
                per_poll_requests.append((clock[0], ledger_id, asked[ledger_id], gained))
        elapsed = time.monotonic() - started
        final = clock[0]
        counts = assert_status_equals_files(instance, tmp_path)

    # every closed day stored once and exactly as served, and nothing past a ledger's frontier
    ledger_ids = sorted(world.ledgers)
    truth = compare_with_truth(world, tmp_path, ledger_ids, days(START, LAST_POLL), final)
    # each stored day has its statement and findings
    assert counts["daily_statements"] == counts["reconciliation"] == counts["funds_report"]
    findings = ds.dataset(tmp_path / "reconciliation", schema=FINDING_SCHEMA).to_table()
    findings = findings.to_pandas()
    assert (findings.status != "fail").all(), findings[findings.status == "fail"].to_string()
    odd = findings[findings.status.isin(["unknown", "pending"])]
    late = odd[(odd.ledger_date > START + timedelta(days=2)) & (odd.status == "unknown")]
    assert late.empty, late.to_string()

    # only the polls inside the outage failed
    outage_polls = [t for t in failed if OUTAGE[0] <= t.astimezone(UTC) < OUTAGE[1]]
    assert failed == outage_polls and len(failed) == 10, failed

    # no lookback cliff: every day was stored at the first poll after it closed (and after the
    # ledger was listed, and after the outage)
    polls = [p[0] for p in per_poll_requests[:: len(world.ledgers)]]
    for (ledger_id, d), when in first_stored.items():
        spec = world.ledgers[ledger_id]
        due = max(world.closes_at(spec, d), spec.listed_from or polls[0])
        expected = next(
            t for t in polls if t >= due and not OUTAGE[0] <= t.astimezone(UTC) < OUTAGE[1]
        )
        assert when == expected, (ledger_id, d, when, expected)
    monthly_october = [
        first_stored[("100004", d)] for d in days(date(2026, 10, 1), date(2026, 10, 31))
    ]
    assert max(monthly_october) - min(monthly_october) < timedelta(days=1), "one poll"
    episode = [first_stored[("100006", d)] for d in days(date(2026, 9, 1), date(2026, 10, 31))]
    assert min(episode).date() == date(2026, 11, 1), "open 61 days, stored the day it closed"
    new_ledger = [when for (lid, _), when in first_stored.items() if lid == "100009"]
    assert len(new_ledger) == (LAST_POLL - START).days and min(new_ledger).date() == date(
        2026, 10, 1
    )

    # a poll of a ledger that stays open costs at most one request per topic
    open_polls = [r for r in per_poll_requests if r[3] == 0 and r[2] > 0]
    assert open_polls and max(r[2] for r in open_polls) <= 2, max(open_polls, key=lambda r: r[2])
    print(
        f"\n{len(per_poll_requests) // len(ledger_ids)} daily polls in {elapsed:.0f} s: "
        f"{truth['closed_days']} ledger-days stored ({truth['rows']} rows, each once); runs "
        f"{dict(outcomes)} (failed only inside the 10-day outage: {len(failed)}); "
        f"{len(open_polls)} polls of an open ledger, at most {max(r[2] for r in open_polls)} "
        "requests each"
    )
