"""The embedded default's batching event log records exactly what Dagster's own SQLite does."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date

import dagster as dg
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable

from vipps_pipeline.books.reconcile import CHECK_GROUPS
from vipps_pipeline.instance.event_log import BatchingSqliteEventLogStorage
from vipps_pipeline.instance.events import check_target, check_targets, latest_plans
from vipps_pipeline_tests.support.clock import LEDGER_IDS
from vipps_pipeline_tests.support.dagster import (
    ASSETS,
    assert_status_equals_files,
    check_status,
    key,
    make_defs,
    run_range,
)
from vipps_pipeline_tests.support.instances import embedded_instance

FIRST, LAST, BROKEN = date(2026, 10, 25), date(2026, 11, 14), date(2026, 11, 12)


def _record(sim, tmp_path, plain: bool) -> tuple[dict, float]:
    data = tmp_path / ("plain" if plain else "batching")
    with embedded_instance(plain=plain) as instance:
        batching = isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
        assert batching != plain
        instance.add_dynamic_partitions("ledgers", LEDGER_IDS)
        started = time.perf_counter()
        result = run_range(make_defs(sim, data), instance, "100001", FIRST, LAST)
        seconds = time.perf_counter() - started
        assert result.success
        counts = assert_status_equals_files(instance, data)
        events = Counter(
            e.dagster_event.event_type_value
            for e in instance.all_logs(result.run_id)
            if e.dagster_event
        )
        latest = {
            asset: instance.get_latest_materialization_event(
                dg.AssetKey(asset)
            ).dagster_event.partition
            for asset in ASSETS
        }
        checks = {group: check_status(instance, group) for group in CHECK_GROUPS}
        _assert_check_targets_are_dagsters(instance)
        _assert_latest_plans_are_dagsters(instance)
        history = [
            (r.partition, r.status.value)
            for r in instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey("reconciliation"), "payouts_and_invoices"), limit=100
            )
        ]
        return {
            "counts": counts,
            "events": events,
            "latest": latest,
            "checks": checks,
            "history": sorted(history),
        }, seconds


def _assert_check_targets_are_dagsters(instance: dg.DagsterInstance) -> None:
    """The targets read off the index equal Dagster's records of the latest materializations."""
    for asset in ("journal", "reconciliation"):
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
        partitions = sorted({r.partition_key for r in records})
        assert partitions
        got = check_targets(instance, dg.AssetKey(asset), partitions)
        for record in records:  # newest first
            want = check_target(record)
            have = got[record.partition_key]
            if have.storage_id == want.storage_id:  # the index keeps microseconds
                assert have.run_id == want.run_id
                assert abs(have.timestamp - want.timestamp) < 2e-6
        latest = {}
        for record in records:
            latest.setdefault(record.partition_key, record.storage_id)
        assert {k: v.storage_id for k, v in got.items()} == latest


def _assert_latest_plans_are_dagsters(instance: dg.DagsterInstance) -> None:
    """The plans read off the execution table equal Dagster's partition info, with plans of
    another run added after the evaluations (the latest row of a partition wins)."""
    storage = instance.event_log_storage
    checks = [dg.AssetCheckKey(dg.AssetKey("reconciliation"), g) for g in CHECK_GROUPS]
    partitions = sorted({key(d, "100001") for d in (FIRST, BROKEN, LAST)})
    table = AssetCheckExecutionsTable
    with storage.index_connection() as conn:
        for check, partition in [(checks[0], partitions[0]), (checks[1], partitions[1])]:
            conn.execute(
                table.insert().values(
                    asset_key=check.asset_key.to_string(),
                    check_name=check.name,
                    partition=partition,
                    run_id="another-run",
                    execution_status="PLANNED",
                    evaluation_event_storage_id=10**9,
                )
            )

    def dagsters() -> set[tuple[str, str]]:
        infos = storage.get_asset_check_partition_info(checks, partition_keys=partitions)
        return {
            (i.partition_key, i.latest_planned_run_id)
            for i in infos
            if i.latest_execution_status.value == "PLANNED"
        }

    assert set(latest_plans(instance, checks, partitions)) == dagsters()
    assert dagsters() == {(partitions[0], "another-run"), (partitions[1], "another-run")}


def test_the_batching_event_log_records_what_dagsters_own_records(sim, tmp_path):
    sim.faults.payout_not_last.add(("100001", BROKEN))
    plain, plain_s = _record(sim, tmp_path, plain=True)
    batching, batching_s = _record(sim, tmp_path, plain=False)
    assert batching == plain
    assert plain["checks"]["payouts_and_invoices"]["FAILED"] == {key(BROKEN, "100001")}
    assert plain["events"]["ASSET_MATERIALIZATION"] == 5 * 21
    assert plain["events"]["ASSET_CHECK_EVALUATION"] == 4 * 21
    print(
        f"\n21 ledger-days: Dagster's SQLite event log {plain_s:.1f} s, the batching one "
        f"{batching_s:.1f} s (informational; benchmarks/ measures it side by side)"
    )


def test_a_database_keeps_one_engine_while_recent_and_none_across_a_wipe(tmp_path, monkeypatch):
    """An engine and a connection per write was 2.5 ms each time (and a WAL checkpoint at
    each close): the index and the last runs written keep theirs; older runs' go."""
    from vipps_pipeline.instance import event_log

    created: list[str] = []
    real = event_log.create_engine

    def counting(url, **kwargs):
        created.append(str(url).rsplit("/", 1)[-1])
        return real(url, **kwargs)

    monkeypatch.setattr(event_log, "create_engine", counting)
    storage = BatchingSqliteEventLogStorage(str(tmp_path))

    def log(run_id: str, n: int) -> None:
        storage.store_event_batch(
            [
                dg.EventLogEntry(
                    error_info=None,
                    level="INFO",
                    user_message=f"message {k}",
                    run_id=run_id,
                    timestamp=time.time(),
                )
                for k in range(n)
            ]
        )

    runs = [f"run{k}" for k in range(event_log.KEPT_RUN_DATABASES + 2)]
    for run_id in runs:
        log(run_id, 3)
        log(run_id, 2)  # the same run again: its engine, no new one
    assert Counter(created) == {f"{r}.db": 1 for r in [*runs, "index"]}
    kept = set(storage._engines) - {"index"}
    assert kept == set(runs[-event_log.KEPT_RUN_DATABASES :]), "the oldest runs' engines go"
    assert all(len(storage.get_logs_for_run(r)) == 5 for r in runs)
    created.clear()
    storage.wipe()
    assert set(storage._engines) <= {"index"}, "no pooled connection to a deleted run database"
    log("after", 1)
    assert [e.user_message for e in storage.get_logs_for_run("after")] == ["message 0"]
    storage.dispose()


def test_runs_on_the_embedded_default_print_info_and_store_every_event(capsys):
    """Dagster's console logger prints DEBUG by default: every step and check event, thousands
    of lines a sync in `vipps-pipeline dev`'s terminal. The embedded default prints INFO and up;
    the events are stored all the same, so the UI shows them."""

    @dg.asset
    def one(context) -> int:  # no annotation: this module's are strings, Dagster reads them
        context.log.info("stored and printed")
        return 1

    with embedded_instance() as instance:
        result = dg.materialize([one], instance=instance)
        kinds = {
            e.dagster_event.event_type_value
            for e in instance.all_logs(result.run_id)
            if e.dagster_event
        }
    printed = capsys.readouterr().err
    assert "stored and printed" in printed
    assert " - DEBUG - " not in printed and "STEP_START" not in printed, printed[:500]
    assert {"STEP_START", "ASSET_MATERIALIZATION", "STEP_SUCCESS"} <= kinds
