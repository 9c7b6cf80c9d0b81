"""The feed sensor: a `vipps_feed` run whenever a ledger's feed is due."""

import dagster as dg

from vipps_pipeline.defs.feed.jobs import DUE_SLACK, read_feed, vipps_feed_job
from vipps_pipeline.defs.partitions import ledger_partitions
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.defs.sync.sensors import IN_FLIGHT
from vipps_pipeline.feed import stream as feed


@dg.sensor(
    job=vipps_feed_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads each ledger's feed when it is due: every VIPPS_FEED_POLL_SECONDS while "
    "entries keep coming, backing off to VIPPS_FEED_MAX_POLL_SECONDS while there are none.",
)
def vipps_feed_sensor(
    context: dg.SensorEvaluationContext, pipeline: PipelineResource
) -> dg.RunRequest | dg.SkipReason:
    settings = pipeline.settings()
    if context.instance.get_run_ids(
        dg.RunsFilter(job_name=vipps_feed_job.name, statuses=IN_FLIGHT), limit=1
    ):
        return dg.SkipReason("a vipps_feed run is still in progress")
    now = settings.now()
    ids = sorted(context.instance.get_dynamic_partitions(ledger_partitions.name))
    schedules = {lid: feed.Schedule.load(settings.data_dir, lid) for lid in ids}
    due = [lid for lid, s in schedules.items() if s.due(now, DUE_SLACK)]
    if not due:
        upcoming = min((s.next_poll_at for s in schedules.values() if s.next_poll_at), default=None)
        return dg.SkipReason(
            f"no ledger due; next feed pass at {upcoming:%H:%M:%S}" if upcoming else "no ledgers"
        )
    return dg.RunRequest(
        run_key=f"feed:{now.isoformat(timespec='seconds')}",
        run_config={"ops": {read_feed.name: {"config": {"ledgers": due}}}},
        tags={"vipps/trigger": "sensor"},
    )
