"""Stored facts for alert tests: a registered ledger and its findings, written as the sync
writes them, and the settings of an alert pass."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from vipps_pipeline.domain import Status, finding
from vipps_pipeline.settings import AlertSettings, PipelineSettings
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.paths import findings_path, journal_path, ledgers_path, statement_path
from vipps_pipeline.store.schemas import (
    FINDING_SCHEMA,
    JOURNAL_SCHEMA,
    LEDGER_SCHEMA,
    STATEMENT_SCHEMA,
)
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


CAPTURED = 123_456
"""The one capture of a stored journal day (1234.56 NOK)."""


def store_statement(data_dir: Path, d: date, moved: int = CAPTURED) -> None:
    """A day's statement: the funds moved ``moved``, the fees nothing."""
    rows = [
        {"ledger_id": LEDGER, "topic": topic, "ledger_date": d, "currency": "NOK", "entries": n,
         "sum_amount": amount, "complete": True}
        for topic, n, amount in (("funds", 1, moved), ("fees", 0, 0))
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=STATEMENT_SCHEMA)
    write_table(statement_path(data_dir, LEDGER, d), table)


def store_journal(
    data_dir: Path, d: date, credit: int = CAPTURED, moved: int = CAPTURED, unmapped: bool = False
) -> None:
    """A day's journal as the sync books one capture (funds held 1580 debited, sales 3000
    credited, the default chart) and its statement. ``credit`` other than the capture leaves
    the day unbalanced, ``moved`` other than it leaves the journal untied from the statement;
    ``unmapped`` books the other side to suspense (2999), balanced, as an unknown entry type."""
    other = ("2999", "Suspense") if unmapped else ("3000", "Sales through Vipps MobilePay")
    entry_type = "surprise" if unmapped else "capture"
    lines = [("1580", "Funds held at Vipps MobilePay", CAPTURED, 0), (*other, 0, credit)]
    rows = [
        {"ledger_id": LEDGER, "ledger_date": d, "voucher": f"{LEDGER}-{d}", "line": n,
         "topic": "funds", "entry_type": entry_type, "account": account, "account_name": name,
         "debit": debit, "credit": cred, "currency": "NOK", "entries": 1, "psp_reference": None,
         "text": entry_type, "unmapped": unmapped}  # both sides, as the sync marks them
        for n, (account, name, debit, cred) in enumerate(lines)
    ]  # fmt: skip
    write_table(
        journal_path(data_dir, LEDGER, d), pa.Table.from_pylist(rows, schema=JOURNAL_SCHEMA)
    )
    store_statement(data_dir, d, moved)
