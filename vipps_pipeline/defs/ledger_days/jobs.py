"""The daily job: every ledger-day dataset, the pipeline's main job."""

from __future__ import annotations

import dagster as dg

from vipps_pipeline.defs.ledger_days.assets import ledger_day_assets


def build_daily_ledger_job(
    assets: dg.AssetsDefinition = ledger_day_assets,
) -> dg.UnresolvedAssetJobDefinition:
    """The job over one shard's ledger-day assets; every location names it the same."""
    return dg.define_asset_job(
        "daily_ledger_job",
        selection=dg.AssetSelection.assets(assets),
        description="Fetch, store, state and reconcile ledger-days: the pipeline's main job. "
        "Launch a range from this page or the asset graph; days not final yet stay missing and "
        "the hourly sync fetches them once they close.",
    )


daily_ledger_job = build_daily_ledger_job()
