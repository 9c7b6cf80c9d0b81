"""Stored facts for alert tests: a registered ledger and its findings, written as the sync
writes them, and the settings of an alert pass."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from vipps_pipeline.domain import Status, finding
from vipps_pipeline.settings import AlertSettings, PipelineSettings
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.paths import findings_path, ledgers_path
from vipps_pipeline.store.schemas import FINDING_SCHEMA, LEDGER_SCHEMA
from vipps_pipeline_tests.support.clock import NOW

LEDGER = "100001"
DAY = date(2026, 11, 20)


def pipeline(data_dir: Path, now: datetime = NOW, start: str = "2026-10-01") -> PipelineSettings:
    env = {"VIPPS_DATA_DIR": str(data_dir), "VIPPS_START_DATE": start, "VIPPS_NOW": now.isoformat()}
    return PipelineSettings.from_env(env)


def alerts(url: str, **more: str) -> AlertSettings:
    return AlertSettings.from_env({"VIPPS_ALERT_WEBHOOK_URL": url, **more})


def register(data_dir: Path) -> None:
    row = {"ledger_id": LEDGER, "currency": "NOK", "sales_units": ["ACME Fitness"], "listed": True}
    write_table(ledgers_path(data_dir), pa.Table.from_pylist([row], schema=LEDGER_SCHEMA))


def store_findings(data_dir: Path, d: date, broken: bool) -> None:
    """A day's findings: the cross-day balance check fails (or passes) on the funds."""
    status = Status.FAIL if broken else Status.PASS
    opened = 120_000 if broken else 123_456
    rows = [
        finding(LEDGER, d, "funds", "chain_across_days", status, 123_456, opened, "closed/opened"),
        finding(LEDGER, d, "fees", "fee_coverage", Status.PENDING, 0, 1, "window open"),
    ]
    write_table(
        findings_path(data_dir, LEDGER, d), pa.Table.from_pylist(rows, schema=FINDING_SCHEMA)
    )
