"""The alerts sensor: every minute, one alert pass over every registered ledger.

It launches no run: it reads what is stored and how the last sync, feed and ledger-list runs
ended, and tells the configured destinations about what changed (vipps_pipeline.alerts). The
destinations are read from the daemon's environment, never from run config, so neither the
webhook URL nor the SMTP password reaches Dagster's storage; the sensor's own text (the tick's
skip reason) says only what was sent where, by destination name.
"""

from __future__ import annotations

import os

import dagster as dg

from vipps_pipeline.alerts.notify import alert_pass
from vipps_pipeline.alerts.problems import RunOutcome
from vipps_pipeline.defs.partitions import ledger_partitions
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.settings import AlertSettings, SettingsError

WATCHED_JOBS = ("vipps_sync", "vipps_feed", "refresh_ledgers")
"""The jobs whose failures are outages worth a message (once per outage)."""

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]


def failure_text(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first line of each failed step's error (the run's own failure when no step failed)."""
    lines = []
    for kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
        for record in instance.get_records_for_run(run_id, of_type=kind, limit=5).records:
            event = record.event_log_entry.dagster_event
            error = getattr(event.event_specific_data, "error", None) if event else None
            text = error.message if error else record.event_log_entry.message
            first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
            lines.append(first.split("Failure: ", 1)[-1][:400])
        if lines:
            break
    return "; ".join(lines) or "the run failed"


def latest_outcome(instance: dg.DagsterInstance, job: str) -> RunOutcome | None:
    """How the job's latest finished run ended (None: it never ran)."""
    runs = instance.get_runs(dg.RunsFilter(job_name=job, statuses=FINISHED), limit=1)
    if not runs:
        return None
    run = runs[0]
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return RunOutcome(job, run.run_id, True)
    return RunOutcome(job, run.run_id, False, failure_text(instance, run.run_id))


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Tells a person, by webhook and/or e-mail, when a check turns to fail, a ledger "
    "turns stale or not yours, the keys are rejected or a sync/feed run fails, and once more "
    "when it clears; silent in normal quiet periods (docs/alerts.md).",
)
def vipps_alerts_sensor(
    context: dg.SensorEvaluationContext, pipeline: PipelineResource
) -> dg.SkipReason:
    try:
        alerts = AlertSettings.from_env(os.environ)
    except SettingsError as exc:
        return dg.SkipReason(f"alerts are off: {exc}")
    ids = sorted(context.instance.get_dynamic_partitions(ledger_partitions.name))
    outcomes = [o for job in WATCHED_JOBS if (o := latest_outcome(context.instance, job))]
    result = alert_pass(alerts, pipeline.settings(), ids, outcomes)
    return dg.SkipReason(result.line())
