"""A ledger's inventory on S3 from the tables' record (a local moto server on loopback, never
the internet): a constant number of requests per tick once synced, a killed run's marker
forcing a full listing that repairs, and a landing object deleted by hand noticed by the
daily full listing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import aiobotocore.client
import pytest

from vipps_pipeline.lake import commit as lake
from vipps_pipeline.lake.tables import DAY_TABLES, table_rows
from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store import objstore, state
from vipps_pipeline.store.paths import DAY_KINDS, report_path
from vipps_pipeline.sync import completeness, index, planner
from vipps_pipeline.sync import engine as lr
from vipps_pipeline_tests.support.clock import NOW, days
from vipps_pipeline_tests.support.lake import rows
from vipps_pipeline_tests.support.s3 import fresh_bucket, moto_endpoint

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

LEDGER = "100001"  # a daily ledger: closed through yesterday
START = date(2026, 10, 1)
FIRST = tuple(days(START, date(2026, 10, 31)))
LATER = tuple(days(date(2026, 11, 1), date(2026, 11, 23)))


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


@pytest.fixture
def settings(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> PipelineSettings:
    """A fresh bucket; every AWS setting local, the endpoint in VIPPS_STORAGE_OPTIONS."""
    data = fresh_bucket(endpoint, monkeypatch)
    return PipelineSettings.from_env(
        {
            "VIPPS_DATA_DIR": data,
            "VIPPS_STORAGE_OPTIONS": json.dumps({"endpoint_url": endpoint}),
            "VIPPS_START_DATE": START.isoformat(),
            "VIPPS_NOW": NOW.isoformat(),
        }
    )


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every S3 request the pipeline's own client makes (each page of a listing is one), as
    (operation, key or prefix); Delta's own client is not counted."""
    seen: list[tuple[str, str]] = []
    real = aiobotocore.client.AioBaseClient._make_api_call

    async def counted(self, operation_name, api_params):
        seen.append((operation_name, api_params.get("Prefix") or api_params.get("Key") or ""))
        return await real(self, operation_name, api_params)

    monkeypatch.setattr(aiobotocore.client.AioBaseClient, "_make_api_call", counted)
    return seen


def lists(seen: list[tuple[str, str]]) -> list[str]:
    return [where for op, where in seen if op == "ListObjectsV2"]


def run(settings: PipelineSettings, client, dates, **work) -> list[lr.Event]:
    events = lr.run_ledger(
        lr.Work(LEDGER, tuple(dates), **work),
        client=client,
        settings=settings,
        breaker=lr.Breaker(3),
    )
    return list(events)


def sync_tick(settings: PipelineSettings, client) -> completeness.Inventory:
    """What the sync job does for one ledger: list, plan, run the work, catch up the tables."""
    inv = completeness.scan(settings.data_dir, LEDGER, verify=True)
    plan = planner.plan_ledger(
        inv,
        state.load(settings.data_dir, LEDGER),
        start=START,
        until=LATER[-1],
        window=settings.fee_window_days,
    )
    if plan.has_work:
        run(settings, client, plan.dates(), sync=True, inventory=inv)
    lake.catch_up_all(settings.data_dir, {LEDGER: inv.files})
    return inv


def full(settings: PipelineSettings) -> dict:
    return completeness.scan(settings.data_dir, LEDGER, indexed=False).files


def index_prefix(settings: PipelineSettings) -> str:
    """The key prefix of the ledger's index folder (without the bucket, as S3 is asked)."""
    return index.index_dir(settings.data_dir, LEDGER).path.split("/", 1)[1] + "/"


def index_objects(settings: PipelineSettings) -> list[str]:
    return sorted(objstore.list_files(index.index_dir(settings.data_dir, LEDGER)))


def assert_tables_equal_landing(settings: PipelineSettings) -> None:
    files = full(settings)
    for spec in DAY_TABLES:
        stored = sorted(set().union(*(files[k] for k in spec.kinds)))
        want = rows(lake.day_rows(settings.data_dir, spec, LEDGER, stored).table())
        assert rows(table_rows(settings.data_dir, spec.name)) == want, spec.name


@pytest.mark.objstore
def test_a_synced_ledger_is_planned_from_its_record_in_two_requests(settings, client, requests):
    run(settings, client, FIRST + LATER)  # up to date: the ledger is final through yesterday
    assert index_objects(settings) == [], "the run's marker goes after its last commit"
    first = completeness.scan(settings.data_dir, LEDGER)  # no stamp yet: a full listing
    assert index_objects(settings) == [index.VERIFIED]
    assert first.files == full(settings)

    requests.clear()
    again = completeness.scan(settings.data_dir, LEDGER, verify=True)
    assert again.files == first.files
    assert len(first.files["reports/funds"]) == len(FIRST + LATER)
    assert [op for op, _ in requests] == ["ListObjectsV2", "GetObject"], requests
    assert lists(requests) == [index_prefix(settings)], requests

    # a whole sync tick of the synced ledger (list, plan, catch up): no landing prefix listed
    # (the ledger list's file is looked up once per sync, whatever the number of ledgers)
    requests.clear()
    sync_tick(settings, client)
    assert [p for p in lists(requests) if LEDGER in p] == [index_prefix(settings)], requests
    requests.clear()
    planner.plan_stored(  # the sensor's plan of the ledger, every minute
        settings.data_dir, LEDGER, start=START, until=LATER[-1], window=settings.fee_window_days
    )
    assert lists(requests) == [index_prefix(settings)], requests


@pytest.mark.objstore
def test_a_killed_runs_marker_forces_a_full_listing_that_repairs(
    settings, client, requests, monkeypatch
):
    run(settings, client, FIRST)
    completeness.scan(settings.data_dir, LEDGER)  # verified
    # a run killed after storing reports of November, before its chunk's commit
    events = lr.run_ledger(
        lr.Work(LEDGER, LATER), client=client, settings=settings, breaker=lr.Breaker(3)
    )
    stored = 0
    for event in events:
        stored += isinstance(event, lr.ReportStored)
        if stored == 6:
            break
    events.close()  # nothing after the yield runs: as after SIGKILL, no commit, marker kept
    [marker] = [n for n in index_objects(settings) if n.startswith(index.WRITING + "/")]
    assert "2026-11-03" not in lake.committed(settings.data_dir, LEDGER)["reports/funds"]

    requests.clear()
    inv = completeness.scan(settings.data_dir, LEDGER)
    assert len(lists(requests)) == 1 + len(DAY_KINDS), "the marker forces a full listing"
    assert date(2026, 11, 3) in inv.dates("reports/funds") and inv.files == full(settings)

    sync_tick(settings, client)  # the repair: commits what the killed run stored, fetches on
    assert_tables_equal_landing(settings)
    assert len(full(settings)["reports/funds"]) == len(FIRST) + len(LATER)
    # the marker is not stale yet (its run could be alive): still full listings
    requests.clear()
    completeness.scan(settings.data_dir, LEDGER)
    assert len(lists(requests)) == 1 + len(DAY_KINDS)
    assert marker in index_objects(settings)

    monkeypatch.setattr(index, "STALE_S", 0.0)  # an hour later
    completeness.scan(settings.data_dir, LEDGER)  # matches the record: the marker goes
    assert index_objects(settings) == [index.VERIFIED]
    want = full(settings)
    requests.clear()
    assert completeness.scan(settings.data_dir, LEDGER).files == want
    assert lists(requests) == [index_prefix(settings)], requests


@pytest.mark.objstore
def test_a_landing_object_deleted_by_hand_is_noticed_by_the_daily_full_listing(
    settings, client, requests, monkeypatch
):
    run(settings, client, FIRST)
    completeness.scan(settings.data_dir, LEDGER)  # verified
    gone = report_path(settings.data_dir, "fees", LEDGER, date(2026, 10, 12))
    gone.fs.rm_file(gone.path)
    # within the day the record stands for the listing: the deletion is not seen yet
    assert date(2026, 10, 12) in completeness.scan(settings.data_dir, LEDGER).dates("reports/fees")

    monkeypatch.setattr(index, "VERIFY_S", 0.0)  # a day later: the full listing sees it
    inv = completeness.scan(settings.data_dir, LEDGER)
    assert date(2026, 10, 12) not in inv.dates("reports/fees")
    monkeypatch.setattr(index, "VERIFY_S", 86400.0)
    assert index_objects(settings) == [], "the listing differs from the record: not trusted"
    # full listings until repaired
    assert date(2026, 10, 12) not in completeness.scan(settings.data_dir, LEDGER).dates(
        "reports/fees"
    )
    sync_tick(settings, client)
    assert gone.exists()
    assert_tables_equal_landing(settings)
    completeness.scan(settings.data_dir, LEDGER)  # matches again: verified
    want = full(settings)
    requests.clear()
    assert completeness.scan(settings.data_dir, LEDGER).files == want
    assert lists(requests) == [index_prefix(settings)], requests
