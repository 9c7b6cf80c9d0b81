"""The file side of reconciliation: read stored days, write statements and findings.

:mod:`vipps_pipeline.books.reconcile` stays pure; this module decides which files a date range needs
(the fee window on either side, the day before for continuity) and writes one atomic file per
ledger-day, so re-running a range replaces its rows and never appends duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.books import journal, opening, reconcile, statements
from vipps_pipeline.settings import TOPICS
from vipps_pipeline.store import objstore, state
from vipps_pipeline.store.atomic import write_csv, write_table
from vipps_pipeline.store.days import Memory, read_days
from vipps_pipeline.store.objstore import as_dir
from vipps_pipeline.store.paths import findings_path, journal_csv_path, journal_path, statement_path
from vipps_pipeline.store.schemas import FINDING_SCHEMA, REPORT_SCHEMA, STATEMENT_SCHEMA


class MissingInput(RuntimeError):
    """A report a statement or reconciliation needs is not stored yet."""


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _reports(
    data_dir: Path, ledger_id: str, days: list[date], memory: Memory | None = None
) -> dict[str, tuple[pa.Table, set[date]]]:
    """Both topics' stored days, only the columns the rules read."""
    columns = statements.RULE_COLUMNS
    return {
        t: read_days(data_dir, f"reports/{t}", ledger_id, days, REPORT_SCHEMA, columns, memory)
        for t in TOPICS
    }


def _clusters(dates: Sequence[date], gap: int) -> list[list[date]]:
    """Split sorted dates where they lie more than ``gap`` days apart, so each read stays
    small however scattered the dates are."""
    out: list[list[date]] = []
    for d in dates:
        if out and (d - out[-1][-1]).days <= gap:
            out[-1].append(d)
        else:
            out.append([d])
    return out


def _by_day(table: pa.Table, data_dir: Path, ledger_id: str, dates: list[date], path) -> None:
    for d in dates:
        day = table.filter(pc.equal(table["ledger_date"], pa.scalar(d, pa.date32())))
        write_table(path(data_dir, ledger_id, d), day)


def write_statements(
    data_dir: Path,
    ledger_id: str,
    dates: Sequence[date],
    settlement: str | None = None,
    memory: Memory | None = None,
) -> pa.Table:
    """Compute and store the statements of ``dates`` (both topics must be stored).

    The ledger's settlement type is ``settlement`` when given (a user override), otherwise the
    one learned from every day seen so far, updated with these days (call with the ledger's
    lock held: :func:`vipps_pipeline.store.atomic.ledger_lock`). ``memory``: stored days the
    caller holds in memory (:func:`~vipps_pipeline.store.days.read_days`), here and below.
    """
    dates = sorted(dates)
    reports = _reports(data_dir, ledger_id, dates, memory)
    for topic, (_, found) in reports.items():
        missing = [d for d in dates if d not in found]
        if missing:
            raise MissingInput(
                f"ledger {ledger_id}: {topic} report not stored for "
                f"{', '.join(map(str, missing[:5]))}"
                f"{' ...' if len(missing) > 5 else ''}; materialize {topic}_report first"
            )
    entries = statements.to_frame(pa.concat_tables([reports["funds"][0], reports["fees"][0]]))
    learned = state.learn_settlement(data_dir, ledger_id, statements.day_settlement(entries))
    paid = entries.loc[entries.entry_type.isin(statements.PAYOUT_TYPES), "ledger_date"]
    state.learn_schedule(data_dir, ledger_id, set(paid))
    table = statements.statements(
        entries, ledger_id, [(t, d) for d in dates for t in TOPICS], settlement or learned
    )
    _by_day(table, data_dir, ledger_id, dates, statement_path)
    return table


def write_findings(
    data_dir: Path,
    ledger_id: str,
    dates: Sequence[date],
    *,
    first_date: date,
    window: int,
    settlement: str | None = None,
    memory: Memory | None = None,
) -> pa.Table:
    """Reconcile ``dates`` of one ledger and store one findings file per date.

    Every date needs its statement; the reports of the fee window around it and the statements
    of up to :data:`~vipps_pipeline.books.reconcile.CHAIN_LOOKBACK_DAYS` before it are read when
    stored (what is not stored makes a check ``unknown`` or ``pending``, never a failure).
    """
    settlement = settlement or state.load(data_dir, ledger_id).settlement
    span = timedelta(days=window - 1)
    tables = []
    for group in _clusters(sorted(dates), gap=2 * window + reconcile.CHAIN_LOOKBACK_DAYS):
        reports = _reports(data_dir, ledger_id, _span(group[0] - span, group[-1] + span), memory)
        statement_table, found = read_days(
            data_dir,
            "statements",
            ledger_id,
            _span(group[0] - timedelta(days=reconcile.CHAIN_LOOKBACK_DAYS), group[-1]),
            STATEMENT_SCHEMA,
            memory=memory,
        )
        missing = [d for d in group if d not in found]
        if missing:
            raise MissingInput(
                f"ledger {ledger_id}: statements not stored for "
                f"{', '.join(map(str, missing[:5]))}; materialize daily_statements first"
            )
        table = reconcile.reconcile(
            ledger_id=ledger_id,
            funds=statements.to_frame(reports["funds"][0]),
            fees=statements.to_frame(reports["fees"][0]),
            statement_rows=statement_table.to_pandas(),
            targets=group,
            funds_dates=reports["funds"][1],
            fees_dates=reports["fees"][1],
            first_date=first_date,
            window=window,
            settlement=settlement,
        )
        _by_day(table, data_dir, ledger_id, group, findings_path)
        tables.append(table)
    return pa.concat_tables(tables) if tables else FINDING_SCHEMA.empty_table()


def write_journal(
    data_dir: Path,
    ledger_id: str,
    dates: Sequence[date],
    chart: journal.Chart,
    per_entry: bool = False,
    memory: Memory | None = None,
) -> dict[date, tuple[pa.Table, journal.DayCheck]]:
    """Book ``dates`` (both reports stored) and store each day's journal as Parquet and CSV.

    Returns per date its lines and their check: what is wrong with them (nothing when the day
    balances and ties to the reports) and which entry types went to suspense.
    """
    dates = sorted(dates)
    reports = _reports(data_dir, ledger_id, dates, memory)
    entries = statements.to_frame(pa.concat_tables([reports["funds"][0], reports["fees"][0]]))
    lines = journal.journal(entries, ledger_id, chart, per_entry)
    firsts = opening.first_dates(data_dir, ledger_id)
    lines = opening.with_opening(lines, opening.opening_lines(entries, ledger_id, chart, firsts))
    moved = entries.groupby(["ledger_date", "topic"]).amount.sum().to_dict()
    out = {}
    for d in dates:
        day = lines.filter(pc.equal(lines["ledger_date"], pa.scalar(d, pa.date32())))
        path = journal_path(data_dir, ledger_id, d)
        write_table(path, day)
        write_csv(journal_csv_path(data_dir, ledger_id, d), journal.csv_rows(day))
        movements = {t: int(moved.get((d, t), 0)) for t in TOPICS}
        out[d] = (day, journal.day_balance(day, movements, chart))
    return out


def read_findings(data_dir: Path) -> pd.DataFrame:
    """Every stored finding, as one frame (empty when none are stored)."""
    root = as_dir(data_dir) / "reconciliation"
    if not root.exists():
        return FINDING_SCHEMA.empty_table().to_pandas()
    dataset = objstore.dataset(root, format="parquet", schema=FINDING_SCHEMA)
    return dataset.to_table().to_pandas()
