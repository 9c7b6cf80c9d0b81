"""The sync sensor: poll every ledger hourly through the planner, and derive in between."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import dagster as dg

from vipps_pipeline.defs.partitions import UNSHARDED, Shard, shard_ledger_partitions
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.defs.sync.jobs import sync_ledgers, vipps_sync_job
from vipps_pipeline.defs.sync.plans import plan
from vipps_pipeline.sync.planner import deal, share_label

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def poll_tick(now: datetime, minute: int) -> datetime | None:
    """This hour's poll time once it has passed, else None: polls happen at the chosen minute
    of the hour only (the vendor asks for a fixed random minute, never :00-:10)."""
    tick = now.replace(minute=minute, second=0, microsecond=0)
    return tick if now >= tick else None


def _sync_requests(
    run_key: str, ledger_ids: list[str], fetch: bool, runs: int
) -> list[dg.RunRequest]:
    """The ledgers dealt round-robin over ``runs`` vipps_sync runs (VIPPS_SYNC_RUNS): separate
    runs go in parallel as far as the run coordinator's limits and the ``vipps_api`` pool allow,
    and one slow or failing ledger never holds the others' runs back."""
    groups = deal(ledger_ids, runs)
    return [
        dg.RunRequest(
            run_key=run_key if len(groups) == 1 else f"{run_key}:{i + 1}of{len(groups)}",
            run_config={"ops": {sync_ledgers.name: {"config": {"ledgers": g, "fetch": fetch}}}},
            tags={
                "vipps/trigger": "sensor",
                "vipps/fetch": str(fetch).lower(),
                **(share_label(g, i + 1, len(groups)) if len(groups) > 1 else {}),
            },
        )
        for i, g in enumerate(groups)
    ]


def build_sync_sensor(
    shard: Shard = UNSHARDED, sync_job: dg.JobDefinition = vipps_sync_job
) -> dg.SensorDefinition:
    """The sync sensor of one shard: each location polls only its own ledgers."""
    ledger_partitions = shard_ledger_partitions(shard)

    @dg.sensor(
        job=sync_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Hourly at VIPPS_POLL_MINUTE: vipps_sync runs (VIPPS_SYNC_RUNS; by default one "
        "per core, at most 4) "
        "for every ledger that is not final through yesterday, however far back its frontier "
        "is. In between, runs without API calls whenever stored reports lack statements or "
        "findings (e.g. after a UI backfill of one report asset).",
    )
    def vipps_sync_sensor(
        context: dg.SensorEvaluationContext, pipeline: PipelineResource
    ) -> list[dg.RunRequest] | dg.SkipReason:
        settings = pipeline.settings()
        if context.instance.get_run_ids(
            dg.RunsFilter(job_name=sync_job.name, statuses=IN_FLIGHT, tags=shard.tags()), limit=1
        ):
            return dg.SkipReason("a vipps_sync run is still in progress")
        now = settings.now()
        today = now.date()
        ids = sorted(context.instance.get_dynamic_partitions(ledger_partitions.name))
        if not ids:
            return dg.SkipReason(
                "no ledgers registered yet: ledger_refresh_sensor (or materializing `ledgers`) "
                "registers them"
            )
        plans = [plan(settings, ledger_id, today) for ledger_id in ids]
        tick = poll_tick(now, settings.poll_minute)
        if tick is not None and (context.cursor or "") < tick.isoformat():
            context.update_cursor(tick.isoformat())
            wanted = [p.ledger_id for p in plans if p.has_work]
            if wanted:
                return _sync_requests(
                    f"poll:{tick.isoformat()}", wanted, True, settings.runs_for(len(wanted))
                )
            return dg.SkipReason(
                f"poll {tick:%H:%M} ({settings.timezone}): every ledger is final through "
                f"{today - timedelta(days=1)}"
            )
        stale = {p.ledger_id: p.stale for p in plans if p.stale}
        if stale:
            digest = hashlib.sha1(repr(sorted(stale.items())).encode()).hexdigest()[:16]
            return _sync_requests(
                f"derive:{digest}", sorted(stale), False, settings.runs_for(len(stale))
            )
        nxt = (tick or now.replace(minute=settings.poll_minute)) + timedelta(hours=1 if tick else 0)
        return dg.SkipReason(f"nothing to do until the poll at {nxt:%H:%M} ({settings.timezone})")

    return vipps_sync_sensor


vipps_sync_sensor = build_sync_sensor()
