"""Automation conditions: poll recent missing ledger-days hourly, cascade downstream."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from vipps_pipeline.settings import PipelineSettings


def report_condition(settings: PipelineSettings) -> dg.AutomationCondition:
    """Re-request missing ledger-days of the last ``lookback_days``, once an hour.

    The minute is fixed outside :00-:10 as the vendor asks. One poll per open ledger-day per
    hour, and runs started by automation skip the in-run retries, so a ledger that stays open
    for weeks costs one cheap request an hour per day in the window, never a burst.

    The window comes first so every later operand sees only recent partitions, and the tick
    is a plain ``cron_tick_passed`` (true for the whole asset on the first evaluation after
    the tick): ``.since_last_handled()`` would track state for every partition of the
    history, which at 100 ledgers x 3 years costs seconds per evaluation. A partition still
    in progress at the tick is simply polled at the next one.
    """
    cron = f"{settings.poll_minute} * * * *"
    return (
        dg.AutomationCondition.in_latest_time_window(
            lookback_delta=timedelta(days=settings.lookback_days)
        )
        & dg.AutomationCondition.cron_tick_passed(cron, settings.timezone)
        & dg.AutomationCondition.missing()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(
        f"missing in the last {settings.lookback_days} days, hourly at :{settings.poll_minute:02d}"
    )


def downstream_condition(required: str | None = None) -> dg.AutomationCondition:
    """Run when an upstream partition was updated by a run that did not include this asset.

    Unlike ``eager()`` this is not limited to the latest date, so partitions stored by a
    backfill run whose downstream steps were skipped (a not-ready day failed the reports step)
    still get their statements and checks. It keeps no per-partition state: ``newly_missing``
    and ``since_last_handled`` would track all 100,000+ partitions of a long history on every
    evaluation. With ``required``, only that dependency must be present (the fee window's
    future days may not be).
    """
    if required is None:
        inputs_ready = ~dg.AutomationCondition.any_deps_missing()
    else:
        inputs_ready = ~dg.AutomationCondition.any_deps_match(
            dg.AutomationCondition.missing()
        ).allow(dg.AssetSelection.assets(required))
    return (
        dg.AutomationCondition.any_deps_updated().with_label("upstream updated")
        & inputs_ready
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    )
