"""The bank inbox sensor: a statement dropped into ``<data>/bank/inbox/`` is imported."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from vipps_pipeline.defs.bank.assets import inbox_files
from vipps_pipeline.defs.bank.jobs import bank_match_job
from vipps_pipeline.defs.partitions import SETTINGS


@dg.sensor(
    job=bank_match_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts bank_match_job when files are waiting in <data>/bank/inbox/.",
)
def bank_inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    files = inbox_files(Path(SETTINGS.data_dir))
    if not files:
        return dg.SensorResult(skip_reason="no bank statements in the inbox")
    stamp = "\n".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    key = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"bank-{key}")])
