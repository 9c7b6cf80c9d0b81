"""Reconciliation of a ledger: every registered check over many days at once, and a summary.

Everything is computed for many days at once with vectorised pandas operations (a year of a
ledger is one call), then turned into one finding per ledger, date, topic and check. A finding
is ``pass``, ``fail`` (the data breaks the invariant), ``unknown`` (the data needed to decide is
not stored, e.g. the previous day) or ``pending`` (a capture whose fee window is still open).
The checks themselves live in :mod:`vipps_pipeline.books.checks`, one function each.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from vipps_pipeline.books.checks import CHECK_GROUPS, CHECKS, CheckInputs, run_checks
from vipps_pipeline.books.checks.balance import CHAIN_LOOKBACK_DAYS
from vipps_pipeline.domain import STATUS_RANK, Status
from vipps_pipeline.store.schemas import FINDING_SCHEMA

__all__ = ["CHAIN_LOOKBACK_DAYS", "CHECKS", "CHECK_GROUPS", "reconcile", "summarize"]


def reconcile(
    *,
    ledger_id: str,
    funds: pd.DataFrame,
    fees: pd.DataFrame,
    statement_rows: pd.DataFrame,
    targets: list[date],
    funds_dates: set[date],
    fees_dates: set[date],
    first_date: date,
    window: int,
    settlement: str | None = None,
) -> pa.Table:
    """All findings for ``targets`` (dates whose funds and fees are both stored).

    ``funds``/``fees`` may hold more days than ``targets`` (the fee window on either side);
    ``statement_rows`` must reach :data:`CHAIN_LOOKBACK_DAYS` before the first target, for the
    cross-day check across quiet days. ``settlement`` is the ledger's settlement type.
    """
    targets = sorted(targets)
    both = pd.concat([funds, fees], ignore_index=True)
    inputs = CheckInputs(
        ledger_id=ledger_id,
        entries=both[both.ledger_date.isin(set(targets))],
        funds=funds,
        fees=fees,
        statement_rows=statement_rows,
        targets=targets,
        funds_dates=funds_dates,
        fees_dates=fees_dates,
        first_date=first_date,
        window=window,
        settlement=settlement,
    )
    rows = run_checks(inputs)
    rows.sort(key=lambda r: (r["ledger_date"], r["topic"], r["check"]))
    return pa.Table.from_pylist(rows, schema=FINDING_SCHEMA)


def summarize(findings: pd.DataFrame) -> pd.DataFrame:
    """Per ledger: days checked, and days with a failure, with pending/unknown, or all passing."""
    if findings.empty:
        return pd.DataFrame(columns=["ledger_id", "days", "passed", "failed", "pending", "unknown"])
    worst = (
        findings.assign(rank=findings.status.map(STATUS_RANK))
        .groupby(["ledger_id", "ledger_date"])["rank"]
        .max()
    )
    per = worst.groupby(level="ledger_id")

    def days(status: Status) -> pd.Series:
        return per.apply(lambda s: int((s == status.rank).sum()))

    return pd.DataFrame(
        {
            "days": per.size(),
            "passed": days(Status.PASS),
            "failed": days(Status.FAIL),
            "pending": days(Status.PENDING),
            "unknown": days(Status.UNKNOWN),
        }
    ).reset_index()
