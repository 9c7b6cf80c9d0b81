"""The refresh job: list the ledgers and register new ones."""

from __future__ import annotations

import dagster as dg

from vipps_pipeline.defs.ledgers.assets import ledgers


def build_refresh_ledgers_job(
    ledgers_asset: dg.AssetsDefinition = ledgers,
) -> dg.UnresolvedAssetJobDefinition:
    """One shard's refresh job; every location names it `refresh_ledgers`."""
    return dg.define_asset_job(
        "refresh_ledgers",
        selection=[ledgers_asset],
        description="List the ledgers and register new ones.",
    )


refresh_ledgers_job = build_refresh_ledgers_job()
