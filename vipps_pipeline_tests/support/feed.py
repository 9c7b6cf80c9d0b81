"""The feed's simulated world, its ground truth and what a pass committed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from vipps_pipeline.feed import stream as feed
from vipps_pipeline.settings import TOPICS
from vipps_pipeline.simulator import Simulator, World
from vipps_pipeline.simulator.model import LEDGERS
from vipps_pipeline_tests.support.clock import days
from vipps_pipeline_tests.support.truth import truth_row

START = date(2026, 11, 1)


def recent_world(start: date = START, **kw) -> World:
    """The simulated ledgers as if they opened on ``start``: a feed read from the beginning is
    a few weeks long, not six years."""
    return World(seed=0, ledgers=[replace(s, start=start) for s in LEDGERS], **kw)


def truth(world: World, ledger_id: str, topic: str, now: datetime, first: date = START) -> dict:
    """Per ledger date, the rows the feed has served by ``now`` (from ``first`` on)."""
    spec = world.ledgers[ledger_id]
    out = {}
    for d in days(first, now.date() + timedelta(days=1)):
        if now < world.window(spec, d)[0]:
            break
        day = world.feed_day(ledger_id, topic, d)
        out[d] = [truth_row(e, i) for i, e in enumerate(day.entries[: day.visible_count(now)])]
    return {d: rows for d, rows in out.items() if rows}


def stored(data_dir: Path, ledger_id: str, topic: str) -> dict:
    """Per ledger date, the committed rows in the provisional files (as truth rows)."""
    record = feed.Record.load(data_dir, ledger_id, topic)
    out = {}
    for d in sorted(record.dates):
        table = feed.read_committed(data_dir, record, d)
        drop = ("ledger_id", "topic", "feed_position", "stored_at")
        out[d] = [{k: v for k, v in r.items() if k not in drop} for r in table.to_pylist()]
    return {d: rows for d, rows in out.items() if rows}


def assert_exactly_once(sim: Simulator, data_dir: Path, ledger_id: str, now: datetime) -> int:
    n = 0
    for topic in TOPICS:
        want = truth(sim.world, ledger_id, topic, now)
        got = stored(data_dir, ledger_id, topic)
        assert got == want, (ledger_id, topic)
        record = feed.Record.load(data_dir, ledger_id, topic)
        positions = []
        for d in record.dates:
            positions += feed.read_committed(data_dir, record, d)["feed_position"].to_pylist()
        assert sorted(positions) == list(range(record.position)), "no gap, no duplicate"
        n += sum(len(rows) for rows in got.values())
    return n
