"""The project's Dagster definitions against the simulator, and what Dagster shows of them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
from dagster._core.storage.asset_check_state import AssetCheckState, bulk_update_asset_check_state

from vipps_pipeline.definitions import build_defs
from vipps_pipeline.defs.partitions import ledger_day_partitions
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.simulator import Simulator
from vipps_pipeline_tests.support.clock import NOW

ASSETS = {
    "funds_report": "reports/funds",
    "fees_report": "reports/fees",
    "daily_statements": "statements",
    "reconciliation": "reconciliation",
    "journal": "journal",
}


CHECKS = ("balance_continuity", "payouts_and_invoices", "funds_vs_fees")


def api_resource(sim: Simulator, **overrides: str) -> ReportApiResource:
    fields = {k[6:].lower(): v for k, v in sim.env("merchant").items()}
    return ReportApiResource(**{**fields, **overrides})


def make_defs(
    sim: Simulator, data_dir: Path, api: dict[str, str] | None = None, **pipeline: str
) -> dg.Definitions:
    settings = {
        "data_dir": str(data_dir),
        "start_date": "2026-10-01",
        "now": NOW.isoformat(),
        **pipeline,
    }
    return build_defs(
        {"api": api_resource(sim, **(api or {})), "pipeline": PipelineResource(**settings)}
    )


def key(d: date, ledger_id: str) -> str:
    return f"{d.isoformat()}|{ledger_id}"


def run_range(defs, instance, ledger_id, first: date, last: date, tags=None, selection=None):
    return defs.resolve_job_def("daily_ledger_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        asset_selection=selection,
        tags={
            "dagster/asset_partition_range_start": key(first, ledger_id),
            "dagster/asset_partition_range_end": key(last, ledger_id),
            **(tags or {}),
        },
    )


def stored(data_dir: Path, kind: str) -> set[str]:
    """Partition keys of the files on disk."""
    return {
        f"{p.stem}|{p.parent.parent.name}"
        for p in (Path(data_dir) / kind).rglob("*.parquet")
        if not p.name.startswith(".")
    }


def assert_status_equals_files(instance: dg.DagsterInstance, data_dir: Path) -> dict[str, int]:
    counts = {}
    for asset, kind in ASSETS.items():
        marked = set(instance.get_materialized_partitions(dg.AssetKey(asset)))
        assert marked == stored(data_dir, kind), asset
        counts[asset] = len(marked)
    return counts


def check_status(instance: dg.DagsterInstance, check: str) -> dict[str, set[str]]:
    """What the Checks tab shows per partition: {status: partitions}."""
    ck = dg.AssetCheckKey(dg.AssetKey("reconciliation"), check)
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        state = bulk_update_asset_check_state(
            instance, [(ck, ledger_day_partitions)], {ck: AssetCheckState.empty()}
        )[ck]
        return {
            status.value: set(subset.subset_value.get_partition_keys())
            for status, subset in state.subsets.items()
        }


def sync(defs, instance, **config):
    return defs.resolve_job_def("vipps_sync").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"sync_ledgers": {"config": config}}},
    )


def table_text(value: dg.TableMetadataValue) -> str:
    """A metadata table as the markdown its assertions read: a header line, then a line per
    row (empty cells for None)."""
    columns = [c.name for c in value.schema.columns]
    rows = [
        ["" if r.data.get(c) is None else str(r.data[c]) for c in columns] for r in value.records
    ]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [columns, *rows])


def freshness(instance) -> dg.AssetCheckEvaluation:
    ck = dg.AssetCheckKey(dg.AssetKey("ledgers"), "ledger_freshness")
    [latest] = instance.event_log_storage.get_asset_check_execution_history(ck, limit=1)
    return latest.event.dagster_event.event_specific_data
