"""Issue 20, item 3: a sync lists each ledger's files once and keeps that inventory current as
it writes (the engine's chunks, the files left to record and the freshness rows read it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store import objstore, state
from vipps_pipeline.store.paths import DAY_KINDS
from vipps_pipeline.sync import completeness, planner
from vipps_pipeline.sync import engine as lr
from vipps_pipeline_tests.support.clock import NOW
from vipps_pipeline_tests.support.dagster import freshness, make_defs, sync
from vipps_pipeline_tests.support.instances import embedded_instance

START = date(2026, 11, 1)
UNTIL = date(2026, 11, 23)


def _folder(root: object) -> tuple[str, str]:
    """``(kind, ledger)`` of a listed ``<data>/<kind>/<ledger>`` folder."""
    parts = Path(str(root)).parts
    kind = "/".join(parts[-3:-1]) if parts[-3] == "reports" else parts[-2]
    return kind, parts[-1]


@pytest.fixture
def listings(monkeypatch) -> Counter[tuple[str, str]]:
    """How often each ``<kind>/<ledger>`` folder was listed (local and object store)."""
    counts: Counter[tuple[str, str]] = Counter()
    real_years, real_list = completeness._year_folders, objstore.list_files

    def years(root):
        counts[_folder(root)] += 1
        return real_years(root)

    def listed(root):
        counts[_folder(root)] += 1
        return real_list(root)

    monkeypatch.setattr(completeness, "_year_folders", years)
    monkeypatch.setattr(objstore, "list_files", listed)
    return counts


def of_ledger(counts: Counter[tuple[str, str]], ledger_id: str) -> dict[str, int]:
    return {kind: n for (kind, lid), n in counts.items() if lid == ledger_id}


def test_the_engine_lists_a_ledger_once_and_keeps_its_inventory_current(client, tmp_path, listings):
    settings = PipelineSettings.from_env(
        {
            "VIPPS_DATA_DIR": str(tmp_path),
            "VIPPS_START_DATE": START.isoformat(),
            "VIPPS_NOW": NOW.isoformat(),
        }
    )
    for _ in range(2):  # a month to fetch and derive, then nothing but the open frontier
        listings.clear()
        inv = completeness.scan(tmp_path, "100001", verify=True)
        plan = planner.plan_ledger(
            inv, state.load(tmp_path, "100001"), start=START, until=UNTIL, window=3
        )
        work = lr.Work("100001", plan.dates(), sync=True, inventory=inv)
        events = list(lr.run_ledger(work, client=client, settings=settings, breaker=lr.Breaker(3)))
        assert not [e for e in events if isinstance(e, lr.DayFailed)]
        assert of_ledger(listings, "100001") == dict.fromkeys(DAY_KINDS, 1)
        fresh = completeness.scan(tmp_path, "100001")
        assert inv.files == fresh.files, "the inventory is what a listing now would say"
        assert len(inv.dates("reconciliation")) == 23
        again = planner.plan_ledger(
            inv, state.load(tmp_path, "100001"), start=START, until=UNTIL, window=3
        )
        assert again.stale == () and again.fetch == (), "nothing left stale or to fetch"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with embedded_instance() as inst:
        inst.add_dynamic_partitions("ledgers", ["100001", "100004"])
        yield inst


def test_the_sync_job_lists_each_ledger_once_per_sync(sim, instance, tmp_path, listings):
    defs = make_defs(sim, tmp_path, start_date=START.isoformat())
    for _ in range(2):
        listings.clear()
        assert sync(defs, instance, ledgers=["100001"]).success
        assert of_ledger(listings, "100001") == dict.fromkeys(DAY_KINDS, 1)
    assert len(completeness.scan(tmp_path, "100001").dates("reconciliation")) == 23
    assert freshness(instance).passed
