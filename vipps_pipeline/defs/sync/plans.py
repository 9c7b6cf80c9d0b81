"""The planner's view of each ledger as of today, shared by the sync job, its sensor and the
freshness check.

Given the inventory a sync listed (and kept current as it wrote), a plan reads only the
ledger's state file; without one it reads the stored folders' modification times and lists
the files only when they changed (:func:`planner.plan_stored`).
"""

from collections.abc import Mapping
from datetime import date, timedelta

from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store import state
from vipps_pipeline.sync import completeness, planner


def plan(
    settings: PipelineSettings,
    ledger_id: str,
    today: date,
    inventory: completeness.Inventory | None = None,
) -> planner.LedgerPlan:
    until = today - timedelta(days=1)
    window, start = settings.fee_window_days, settings.start_date
    if inventory is not None:
        ledger_state = state.load(settings.data_dir, ledger_id)
        return planner.plan_ledger(inventory, ledger_state, start=start, until=until, window=window)
    return planner.plan_stored(
        settings.data_dir, ledger_id, start=start, until=until, window=window
    )


def freshness_rows(
    settings: PipelineSettings,
    ledger_ids: list[str],
    today: date,
    inventories: Mapping[str, completeness.Inventory] | None = None,
) -> list[planner.Freshness]:
    """``inventories``: the ledgers a sync has just listed, planned from them without another
    listing (the others from what is stored)."""
    inventories = inventories or {}
    return [
        planner.freshness(
            plan(settings, ledger_id, today, inventories.get(ledger_id)),
            today=today,
            stale_days=settings.stale_days,
            persistent_404_days=settings.persistent_404_days,
        )
        for ledger_id in ledger_ids
    ]
