"""Ledger shards (VIPPS_SHARDS): one code location per shard, each with its own asset keys and
ledger partitions, so no asset outgrows Dagster's partition advice. One shard is the default
and must leave every name as it was."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from vipps_pipeline.definitions import build_shard_defs
from vipps_pipeline.defs.partitions import (
    UNSHARDED,
    Shard,
    ledger_day_partitions,
    shard_of,
    shard_partitions,
)
from vipps_pipeline.shards import workspace_yaml
from vipps_pipeline_tests.support.clock import LEDGER_IDS
from vipps_pipeline_tests.support.dagster import make_defs, stored

REPO = Path(__file__).resolve().parents[1]
LEDGER_DAY_ASSETS = ["daily_statements", "fees_report", "funds_report", "journal", "reconciliation"]


def test_assignment_is_a_stable_function_of_the_id_and_balanced():
    # pinned: a change here would move every ledger's history to other asset keys
    assert [shard_of(lid, 10) for lid in LEDGER_IDS] == [9, 1, 2, 6, 1, 0, 1]
    assert [shard_of(lid, 2) for lid in LEDGER_IDS] == [1, 1, 0, 0, 1, 0, 1]
    ids = [str(300001 + i) for i in range(1000)]
    counts = Counter(shard_of(lid, 10) for lid in ids)
    assert sorted(counts) == list(range(10))
    assert max(counts.values()) <= 115 and min(counts.values()) >= 85, counts
    # each ledger in exactly one shard; more ledgers never move the ones already placed
    for lid in ids[:50]:
        assert sum(Shard(i, 10).owns(lid) for i in range(10)) == 1
    assert [shard_of(lid, 10) for lid in ids[:500]] == [shard_of(lid, 10) for lid in ids][:500]


def test_one_shard_is_the_unsharded_default(monkeypatch):
    monkeypatch.delenv("VIPPS_SHARDS", raising=False)
    assert shard_partitions(UNSHARDED) is ledger_day_partitions
    assert UNSHARDED.partitions_name == "ledgers" and UNSHARDED.owns("999999")
    from vipps_pipeline.definitions import defs

    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert {dg.AssetKey(k) for k in [*LEDGER_DAY_ASSETS, "ledgers"]} <= keys
    assert not any(len(k.path) > 1 for k in keys)
    import vipps_pipeline.shards as shards

    with pytest.raises(AttributeError, match="VIPPS_SHARDS=1"):
        shards.shard_00  # noqa: B018
    with pytest.raises(ValueError):
        Shard(2, 2)


def test_a_two_shard_workspace_loads_both_locations_with_their_own_keys_and_ledgers(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("VIPPS_SHARDS", "2")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(workspace_yaml(2).replace(": .", f": {REPO}"))
    with (
        dg.instance_for_test() as instance,
        WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace)])) as process,
    ):
        snapshot = process.create_request_context().get_code_location_entries()
        keys = {}
        for name, entry in snapshot.items():
            assert entry.code_location is not None, entry.load_error
            [repo] = entry.code_location.get_repositories().values()
            nodes = repo.get_asset_node_snaps()
            keys[name] = {n.asset_key for n in nodes}
            dims = {
                d.partitions.name
                for n in nodes
                if n.partitions is not None
                for d in getattr(n.partitions, "partition_dimensions", [])
                if getattr(d.partitions, "name", None)
            }
            assert dims == {f"ledgers_{name.removeprefix('vipps_')}"}
    assert sorted(keys) == ["vipps_shard_00", "vipps_shard_01"]
    assert not keys["vipps_shard_00"] & keys["vipps_shard_01"]
    assert dg.AssetKey(["shard_01", "funds_report"]) in keys["vipps_shard_01"]


def _shard_defs(sim, data_dir: Path, shard: Shard, **pipeline: str) -> dg.Definitions:
    return build_shard_defs(shard, make_defs(sim, data_dir, **pipeline).resources)


def test_each_shard_registers_only_its_ledgers_and_syncs_only_them(sim, tmp_path):
    shards = [Shard(0, 2), Shard(1, 2)]
    with dg.instance_for_test() as instance:
        for shard in shards:
            defs = _shard_defs(sim, tmp_path, shard, start_date="2026-11-15")
            assert defs.resolve_job_def("refresh_ledgers").execute_in_process(instance=instance)
        mine = [sorted(instance.get_dynamic_partitions(s.partitions_name)) for s in shards]
        assert mine == [["100003", "100004", "100006"], ["100001", "100002", "100005", "100007"]]
        assert instance.get_dynamic_partitions("ledgers") == []

        defs = _shard_defs(sim, tmp_path, shards[1], start_date="2026-11-15")
        result = defs.resolve_job_def("vipps_sync").execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"sync_ledgers": {"config": {}}}},
        )
        assert result.success
        on_disk = stored(tmp_path, "reports/funds")
        assert {k.split("|")[1] for k in on_disk} == {"100001", "100002", "100005", "100007"}
        for name, kind in [("funds_report", "reports/funds"), ("reconciliation", "reconciliation")]:
            marked = instance.get_materialized_partitions(dg.AssetKey(["shard_01", name]))
            assert marked == stored(tmp_path, kind), name
            assert not instance.get_materialized_partitions(dg.AssetKey(["shard_00", name]))
            assert not instance.get_materialized_partitions(dg.AssetKey(name))
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(["shard_01", "reconciliation"]), "balance_continuity"),
            limit=5,
        )
        assert checks, "check evaluations are recorded under the shard's keys"
        # a ledger of the other shard is refused by name
        other = defs.resolve_job_def("vipps_sync").execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"sync_ledgers": {"config": {"ledgers": ["100003"]}}}},
        )
        assert not other.success


def test_a_sync_in_flight_in_one_shard_does_not_hold_back_the_others(sim, tmp_path):
    from dagster._core.storage.dagster_run import DagsterRun

    with dg.instance_for_test() as instance:
        instance.add_run(
            DagsterRun(
                job_name="vipps_sync",
                run_id="a0000000-0000-0000-0000-000000000000",
                status=dg.DagsterRunStatus.STARTED,
                tags={"vipps/shard": "shard_00"},
            )
        )
        said = []
        for shard in (Shard(0, 2), Shard(1, 2)):
            defs = _shard_defs(sim, tmp_path, shard)
            sensor = defs.resolve_sensor_def("vipps_sync_sensor")
            with dg.build_sensor_context(
                instance=instance, resources={"pipeline": defs.resources["pipeline"]}
            ) as context:
                said.append(sensor(context).skip_message)
    assert "still in progress" in said[0]
    assert "no ledgers registered" in said[1]
