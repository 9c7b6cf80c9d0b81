"""The planner's view of each ledger as of today, shared by the sync job, its sensor and the
freshness check (each reads the stored folders' modification times, not the files)."""

from datetime import date, timedelta

from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.sync import planner


def plan(settings: PipelineSettings, ledger_id: str, today: date) -> planner.LedgerPlan:
    return planner.plan_stored(
        settings.data_dir,
        ledger_id,
        start=settings.start_date,
        until=today - timedelta(days=1),
        window=settings.fee_window_days,
    )


def freshness_rows(
    settings: PipelineSettings, ledger_ids: list[str], today: date
) -> list[planner.Freshness]:
    return [
        planner.freshness(
            plan(settings, ledger_id, today),
            today=today,
            stale_days=settings.stale_days,
            persistent_404_days=settings.persistent_404_days,
        )
        for ledger_id in ledger_ids
    ]
