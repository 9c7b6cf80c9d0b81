"""Nothing lost, nothing duplicated, nothing leaked: faults, crashes, bad input, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

from vipps_pipeline.books import derive as books
from vipps_pipeline.definitions import build_defs
from vipps_pipeline.defs.ledger_days.assets import ledger_day_assets
from vipps_pipeline.defs.resources import ReportApiResource
from vipps_pipeline.simulator import Faults, Simulator, World
from vipps_pipeline.simulator.faults import CORRUPTIONS
from vipps_pipeline.store.paths import report_path
from vipps_pipeline.sync.ingest import fetch_day
from vipps_pipeline_tests.support.clock import NOW, days
from vipps_pipeline_tests.support.dagster import (
    assert_status_equals_files,
    key,
    make_defs,
    run_range,
    sync,
)
from vipps_pipeline_tests.support.lake import assert_tables_equal_landing
from vipps_pipeline_tests.support.truth import compare_with_truth

TOPICS = ("funds", "fees")


def sync_until_settled(defs, instance, rounds=40) -> int:
    """What the hourly sensor does: a sync run per poll, until two polls in a row store
    nothing new (with a 404 on every report's first poll, each poll advances a ledger by one
    date: the walk stops at the first date that is not ready)."""
    runs = idle = 0
    for _ in range(rounds):
        before = len(instance.get_materialized_partitions(dg.AssetKey("reconciliation")))
        result = sync(defs, instance)
        assert result.success, [e.message for e in result.get_step_failure_events()]
        runs += 1
        after = len(instance.get_materialized_partitions(dg.AssetKey("reconciliation")))
        idle = idle + 1 if after == before else 0
        if idle == 2:
            break
    return runs


@pytest.mark.slow
@pytest.mark.heavy
def test_every_fault_at_once_keeps_every_entry_exactly_once(tmp_path):
    faults = Faults.all_transport_faults(page_size=7)
    faults.retry_after_seconds = 0
    opened = {("100001", date(2026, 11, 5)), ("100002", date(2026, 11, 9))}
    faults.open_dates = set(opened)
    world = World(seed=0, faults=faults)
    dates = days(date(2026, 11, 1), date(2026, 11, 14))
    clock = [datetime(2026, 11, 16, 12, tzinfo=UTC)]  # 2026-11-14 is the last closed date
    ledger_ids = ["100001", "100002", "100003", "100004"]
    with Simulator(world, clock=lambda: clock[0]) as sim, dg.instance_for_test() as instance:
        defs = make_defs(sim, tmp_path, start_date="2026-11-01", now=clock[0].isoformat())
        assert defs.resolve_job_def("refresh_ledgers").execute_in_process(instance=instance).success
        for extra in set(instance.get_dynamic_partitions("ledgers")) - set(ledger_ids):
            instance.delete_dynamic_partition("ledgers", extra)
        runs = sync_until_settled(defs, instance)
        first = compare_with_truth(world, tmp_path, ledger_ids, dates, clock[0])
        # 100004 settles monthly; 100001 and 100002 stop at their forced-open date
        assert first["open_days"] == 14 + (14 - 4) + (14 - 8)
        # the open dates close; the next polls store them (the first-poll 404s were hit above:
        # without them a poll walks every closed date, so the month to December takes one)
        faults.open_dates.clear()
        faults.not_ready_polls = 0
        clock[0] = datetime(2026, 12, 2, 12, tzinfo=UTC)
        defs = make_defs(sim, tmp_path, start_date="2026-11-01", now=clock[0].isoformat())
        runs += sync_until_settled(defs, instance)
        final = compare_with_truth(world, tmp_path, ledger_ids, dates, clock[0])
        assert final["open_days"] == 0 and final["closed_days"] == 56
        assert_status_equals_files(instance, tmp_path)
        hit = {k: sim.counters[k] for k in ("404_not_ready", "429", "500", "revoked", "truncated")}
        print(
            f"\ncompared {final['rows']} rows in {final['closed_days']} ledger-days x 2 topics "
            f"with the simulator's ground truth after {runs} runs; faults hit: {hit}"
        )
        assert all(hit.values()), hit


@pytest.mark.slow
@pytest.mark.fsync
def test_crash_while_writing_a_large_day_leaves_no_partial_file(tmp_path):
    big = date(2026, 11, 10)
    world = World(seed=0, large_days={("100001", big): 250_000})
    with Simulator(world, clock=lambda: NOW) as sim:
        env = {**os.environ, **sim.env("merchant"), "VIPPS_DATA_DIR": str(tmp_path)}
        script = (
            "import os; from datetime import date; from pathlib import Path\n"
            "from vipps_pipeline.api.client import ReportClient\n"
            "from vipps_pipeline.settings import ApiSettings\n"
            "from vipps_pipeline.sync.ingest import fetch_day\n"
            "client = ReportClient(ApiSettings.from_env(os.environ))\n"
            f"fetch_day(client, Path(os.environ['VIPPS_DATA_DIR']), '100001', 'funds', "
            f"date.fromisoformat('{big}'))"
        )
        child = subprocess.Popen([sys.executable, "-c", script], env=env)
        final = report_path(tmp_path, "funds", "100001", big)
        deadline = time.monotonic() + 60
        while not list(final.parent.glob(".*.tmp")) if final.parent.exists() else True:
            assert time.monotonic() < deadline and child.poll() is None, "writer never started"
            time.sleep(0.05)
        time.sleep(0.5)  # well into the day
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert not final.exists()
        assert list(tmp_path.rglob("*.parquet")) == [], "no partial Parquet file"
        # re-running completes correctly and clears the killed writer's temporary file
        client_env = {**sim.env("merchant")}
        from vipps_pipeline.api.client import ReportClient
        from vipps_pipeline.settings import ApiSettings

        summary = fetch_day(
            ReportClient(ApiSettings.from_env(client_env)), tmp_path, "100001", "funds", big
        )
        expected = len(world.day("100001", "funds", big))  # captures, fees-retained, payout
        assert summary.rows == expected == pq.read_metadata(final).num_rows == 250_002
        assert [p.name for p in final.parent.iterdir()] == [final.name]


@pytest.mark.slow
def test_materializing_twice_and_overlapping_backfills_leave_identical_bytes(sim, tmp_path):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("ledgers", ["100002"])
        defs = make_defs(sim, tmp_path)
        assert run_range(defs, instance, "100002", date(2026, 11, 1), date(2026, 11, 10)).success
        # reports and statements must not change; findings may (a pending fee window closes);
        # the landing files (the tables are compared with them row for row at the end)
        snapshot = {
            p: p.read_bytes()
            for p in tmp_path.rglob("*.parquet")
            if "reconciliation" not in p.parts and "tables" not in p.parts
        }
        assert len(snapshot) == 10 * 4  # funds, fees, statement, journal
        assert run_range(defs, instance, "100002", date(2026, 11, 5), date(2026, 11, 15)).success
        assert run_range(defs, instance, "100002", date(2026, 11, 1), date(2026, 11, 10)).success
        for path, data in snapshot.items():
            assert path.read_bytes() == data, path
        landing = [p for p in tmp_path.rglob("*.parquet") if "tables" not in p.parts]
        assert len(landing) == 15 * 5
        assert_tables_equal_landing(tmp_path)  # overlapping runs: replaced, never doubled
        findings = books.read_findings(tmp_path)
        assert not findings.duplicated(["ledger_id", "ledger_date", "topic", "check"]).any()
        assert findings.ledger_date.nunique() == 15


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_bad_api_input_is_refused_clearly_and_stores_nothing_for_that_day(sim, tmp_path, kind):
    bad = date(2026, 11, 11)
    problem = {
        "invalid_json": "invalid JSON",
        "items_not_list": "'items' must be a list",
        "missing_amount": "required field 'amount' is missing",
        "missing_balance": "required field 'balanceAfter' is missing",
        "amount_string": "field 'amount' must be an integer",
        "amount_float": "field 'amount' must be an integer",
        "unknown_currency": "field 'currency' 'XXY' is not an ISO 4217 code",
        "wrong_ledger_date": "field 'ledgerDate' is '1999-01-01'",
        "cursor_loop": "the cursor repeats",
        "endless_pages": "more than 30 pages",
    }[kind]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("ledgers", ["100001"])
        defs = make_defs(sim, tmp_path, api={"max_pages": "30"})
        assert run_range(defs, instance, "100001", bad, bad).success  # a good copy first
        before = {t: report_path(tmp_path, t, "100001", bad).read_bytes() for t in TOPICS}
        sim.faults.corrupt[("100001", bad)] = kind
        sim.faults.page_size = 10
        result = run_range(defs, instance, "100001", date(2026, 11, 10), date(2026, 11, 12))
        assert not result.success
        [failure] = result.get_step_failure_events()
        message = failure.event_specific_data.error.message
        failed = failure.event_specific_data.user_failure_data.metadata["failed"].value
        assert len(failed) == 2, failed
        for topic in TOPICS:
            assert any(f"ledger 100001, {topic}, 2026-11-11" in m for m in failed), failed
        assert all(problem in m for m in failed) and problem in message, failed
        for topic in TOPICS:
            assert report_path(tmp_path, topic, "100001", bad).read_bytes() == before[topic]
            for good in (date(2026, 11, 10), date(2026, 11, 12)):
                assert report_path(tmp_path, topic, "100001", good).exists()
        done = instance.get_materialized_partitions(dg.AssetKey("funds_report"))
        assert (
            key(date(2026, 11, 10), "100001") in done and key(date(2026, 11, 12), "100001") in done
        )


def test_bad_settings_stop_before_any_request(sim, tmp_path):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("ledgers", ["100001"])
        for field, value, named in [
            ("base_url", "api.vipps.no", "VIPPS_BASE_URL must be an http(s) URL"),
            ("key_type", "admin", "VIPPS_KEY_TYPE must be 'merchant' or 'partner'"),
            ("client_secret", "", "VIPPS_CLIENT_SECRET is not set"),
        ]:
            result = dg.materialize(
                [ledger_day_assets],
                selection=["funds_report"],
                partition_key=key(date(2026, 11, 10), "100001"),
                instance=instance,
                resources=make_defs(sim, tmp_path, api={field: value}).resources,
                raise_on_error=False,
            )
            assert named in result.get_step_failure_events()[0].event_specific_data.error.message
        assert len(sim.requests_log) == 0, list(sim.requests_log)


SECRETS = {
    "merchant": {
        "client_id": "leak-test-client",
        "client_secret": "CLIENT-SECRET-7f3a9c1e5b",
        "subscription_key": "SUBSCRIPTION-KEY-c0ffee42",
        "merchant_serial_number": "424242",
    },
    "partner": {"client_id": "leak-partner", "client_secret": "PARTNER-SECRET-91ab33"},
}


def test_no_secret_or_token_is_logged_stored_or_raised(tmp_path, monkeypatch, caplog):
    sim = Simulator(World(seed=0), clock=lambda: NOW, credentials=SECRETS).start()
    try:
        env = {**sim.env("merchant"), "VIPPS_DATA_DIR": str(tmp_path / "data")}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        home = tmp_path / "home"
        home.mkdir()
        caplog.set_level("DEBUG")
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            instance.add_dynamic_partitions("ledgers", ["100001", "100004"])
            # secrets reach the resource only from the environment, exactly as in production
            defs = build_defs(
                {
                    "api": ReportApiResource.from_env(),
                    "pipeline": make_defs(sim, tmp_path / "data").resources["pipeline"],
                }
            )
            sim.faults.revoke_token_every = 3  # several tokens in play
            results = [
                run_range(defs, instance, "100001", date(2026, 11, 1), date(2026, 11, 5)),
                run_range(defs, instance, "100004", date(2026, 11, 1), date(2026, 11, 2)),
            ]
            assert results[0].success and results[1].success  # 100004 is open: not a failure
            results.append(sync(defs, instance))
            records = []
            for result in results:
                records += [str(r) for r in instance.all_logs(result.run_id)]
                records += [
                    json.dumps(result.dagster_run.run_config, default=str),
                    str(result.dagster_run),
                ]
            bad_env = {**env, "VIPPS_CLIENT_ID": "wrong"}
            from vipps_pipeline.api.client import ReportClient
            from vipps_pipeline.api.errors import ApiError
            from vipps_pipeline.settings import ApiSettings

            with pytest.raises(ApiError) as info:
                ReportClient(ApiSettings.from_env(bad_env)).list_ledgers()
            records.append(str(info.value))
            records.append(repr(ApiSettings.from_env(env)))
        texts = "\n".join(records) + "\n".join(r.getMessage() for r in caplog.records)
        secrets = [SECRETS["merchant"]["client_secret"], SECRETS["merchant"]["subscription_key"]]
        secrets += sim.issued_tokens
        assert len(sim.issued_tokens) >= 3
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert files
        hits = [s for s in secrets if s in texts]
        hits += [f"{s} in {p}" for p in files for s in secrets if s.encode() in p.read_bytes()]
        print(
            f"\nsearched {len(records)} events/records, {len(caplog.records)} log lines and "
            f"{len(files)} files for {len(secrets)} secrets and tokens: {len(hits)} hits"
        )
        assert hits == []
    finally:
        sim.stop()


@pytest.mark.slow
@pytest.mark.fsync
def test_a_killed_ranged_run_keeps_what_it_recorded_and_the_next_sync_records_the_rest(tmp_path):
    world = World(seed=0, faults=Faults(slow_every=3, slow_seconds=0.3))
    with Simulator(world, clock=lambda: NOW) as sim:
        home, data = tmp_path / "home", tmp_path / "data"
        env = {
            "PATH": os.environ["PATH"],
            **sim.env("merchant"),
            "VIPPS_DATA_DIR": str(data),
            "VIPPS_START_DATE": "2026-10-01",
            "VIPPS_NOW": NOW.isoformat(),
            "DAGSTER_HOME": str(home),
        }
        args = ["run", "--start", "2026-10-01", "--end", "2026-11-20", "--ledger", "100001"]
        child = subprocess.Popen(
            [sys.executable, "-m", "vipps_pipeline.cli", *args, "--dagster-home", str(home)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while len(list((data / "reconciliation").rglob("*.parquet"))) < 10:
            assert time.monotonic() < deadline and child.poll() is None, "run never got going"
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
        child.wait()
        with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            recorded = instance.get_materialized_partitions(dg.AssetKey("funds_report"))
            on_disk = {f"{p.stem}|100001" for p in (data / "reports/funds").rglob("*.parquet")}
            assert len(recorded) >= 10 and recorded <= on_disk, "progress was recorded per day"
            defs = make_defs(sim, data, now=NOW.isoformat())
            assert sync(defs, instance, ledgers=["100001"]).success
            counts = assert_status_equals_files(instance, data)
        assert counts["reconciliation"] == len(days(date(2026, 10, 1), date(2026, 11, 23)))
        print(f"\nkilled after {len(recorded)} recorded days; the sync completed {counts}")
