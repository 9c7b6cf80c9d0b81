"""Pictures of each ledger and one static HTML report that opens without a server.

Per ledger: the funds and fees balances over time, the daily payouts, the fee rate (fees
charged over captures), and a reconciliation calendar (date x check: pass, fail, pending,
unknown). Everything is read from the statements, findings and journal tables (a day counts as
failed when any check failed: a reconciliation finding or the journal's balance check, so the
count agrees with the checks the UI shows); the charts are PNG files
under ``<data>/report/<ledger>/`` and are embedded in ``<data>/report/index.html`` so the page
can be mailed or opened from disk.
"""

from __future__ import annotations

import base64
import html
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from vipps_pipeline.books.journal import Chart, load_chart, stored_verdicts
from vipps_pipeline.domain import Status, minor_to_text
from vipps_pipeline.lake.tables import table_rows
from vipps_pipeline.outputs.payouts_html import sections
from vipps_pipeline.store.atomic import atomic_file, write_json
from vipps_pipeline.store.objstore import DataDir, as_dir
from vipps_pipeline.store.processes import usable_cores

if TYPE_CHECKING:  # matplotlib is imported when a report is drawn, not with the definitions
    from vipps_pipeline.outputs.report_charts import Charts

CHARTS = ("balance", "payouts", "fee_rate", "calendar")


@dataclass
class LedgerPictures:
    ledger_id: str
    currency: str | None
    days: int
    failed_days: int  # days with a failed reconciliation finding or journal check
    warned_days: int  # days whose journal booked an entry type to suspense (balanced)
    paid_out: str  # exact, in major units: e.g. "1082390.10"
    pngs: dict[str, bytes]  # chart name -> PNG bytes


def _read(data_dir: DataDir, name: str) -> pd.DataFrame:
    """A whole table: one dataset scan, a few files per ledger however many days."""
    return table_rows(data_dir, name).to_pandas()


def ledger_pictures(
    ledger_id: str,
    statements: pd.DataFrame,
    findings: pd.DataFrame,
    journal: pd.DataFrame | None = None,
    charts: Charts | None = None,
) -> LedgerPictures:
    """One ledger's charts and counts; ``journal`` is :func:`stored_verdicts` (None: none).
    ``charts``: the figures to draw on, reused from ledger to ledger (None: new ones)."""
    from vipps_pipeline.outputs.report_charts import Charts

    charts = charts or Charts()
    st = statements[statements.ledger_id == ledger_id].sort_values("ledger_date")
    fi = findings[findings.ledger_id == ledger_id]
    currency = next(iter(st.currency.dropna()), None)
    funds = st[st.topic == "funds"].set_index("ledger_date")
    fees = st[st.topic == "fees"].set_index("ledger_date")
    pngs = {
        "balance": charts.balance(st, ledger_id, currency),
        "payouts": charts.payouts(funds, currency),
        "fee_rate": charts.fee_rate(funds, fees),
        "calendar": charts.calendar(fi),
    }
    worst = fi.groupby("ledger_date").status.agg(Status.worst)
    failed = set(worst[worst == Status.FAIL].index)
    warned: set = set()
    if journal is not None:
        mine = journal[journal.ledger_id == ledger_id]
        failed |= set(mine.ledger_date[mine.failed])
        warned = set(mine.ledger_date[mine.warned & ~mine.failed]) - failed
    # each stored int64 came back as a float64 (nullable column) but exactly, below 2**53:
    # summed as Python ints and shown through integer arithmetic, never a float
    paid = sum(int(v) for v in funds.payout_amount.dropna())
    return LedgerPictures(
        ledger_id,
        currency,
        int(funds.shape[0]),
        len(failed),
        len(warned),
        minor_to_text(paid, currency),
        pngs,
    )


LedgerFrames = tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame]
"""A ledger's id and its statements, findings and journal verdicts."""
PARALLEL_FROM = 20
"""Ledgers from which the charts are drawn by one process per core: drawing is CPU-bound
(about 0.2 s a ledger) and each worker's start (importing matplotlib) costs about a second."""


def _draw(work: list[LedgerFrames]) -> list[LedgerPictures]:
    """Some ledgers' pictures on one set of figures (a worker's share, or all of them)."""
    from vipps_pipeline.outputs.report_charts import Charts

    charts = Charts()
    return [ledger_pictures(*item, charts=charts) for item in work]


def _draw_all(work: list[LedgerFrames]) -> list[LedgerPictures]:
    """Every ledger's pictures, in order; many ledgers in worker processes (started afresh,
    not forked: the parent may hold Delta Lake's and DuckDB's threads)."""
    workers = min(usable_cores(), 4)
    if len(work) < PARALLEL_FROM or workers < 2:
        return _draw(work)
    chunks = [work[k::workers] for k in range(workers)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        done = {p.ledger_id: p for part in pool.map(_draw, chunks) for p in part}
    return [done[item[0]] for item in work]


def write_report(
    data_dir: Path, ledger_ids: list[str] | None = None, chart: Chart | None = None
) -> tuple[Path, list]:
    """Write every ledger's charts and ``<data>/report/index.html``; returns (path, pictures).

    ``chart`` is the chart of accounts the journal was booked with (None: the built-in one):
    the journal check needs it to know which account carries each ledger.
    """
    data_dir = as_dir(data_dir)
    statements = _read(data_dir, "statements")
    findings = _read(data_dir, "findings")
    lines = _read(data_dir, "journal")
    journal = stored_verdicts(lines, statements, chart or load_chart())
    ids = ledger_ids or sorted(set(statements.ledger_id))
    out = data_dir / "report"
    # each table split by ledger once (filtering the whole table per ledger grows as n^2)
    mine = {
        name: dict(tuple(frame.groupby("ledger_id", sort=False)))
        for name, frame in (("st", statements), ("fi", findings), ("jo", journal))
    }
    work = [
        (
            ledger_id,
            mine["st"].get(ledger_id, statements.iloc[:0]),
            mine["fi"].get(ledger_id, findings.iloc[:0]),
            mine["jo"].get(ledger_id, journal.iloc[:0]),
        )
        for ledger_id in ids
    ]
    pictures = _draw_all(work)
    for pics in pictures:
        for name, png in pics.pngs.items():
            with atomic_file(out / pics.ledger_id / f"{name}.png") as tmp:
                tmp.write_bytes(png)
    index = out / "index.html"
    with atomic_file(index) as tmp:
        tmp.write_text(_html(pictures, statements, sections(data_dir)), encoding="utf-8")
    write_json(out / "summary.json", [{**p.__dict__, "pngs": sorted(p.pngs)} for p in pictures])
    return index, pictures


def img_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _html(
    pictures: list[LedgerPictures], statements: pd.DataFrame, arrivals: dict[str, str]
) -> str:
    first = statements.ledger_date.min() if len(statements) else None
    last = statements.ledger_date.max() if len(statements) else None
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>vipps_pipeline report</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}img{max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}</style>",
        "</head><body><h1>Settlement ledgers</h1>",
        f"<p>Ledger dates {first} to {last}; generated {datetime.now(UTC):%Y-%m-%d %H:%M} "
        "UTC. Amounts in major units of each ledger's currency.</p>",
        "<p>A failed check is a reconciliation finding that failed or a journal that does not "
        "balance or tie to its reports; a warning is a balanced journal that booked an entry "
        "type without an account to suspense.</p>",
        "<table><tr><th>ledger</th><th>currency</th><th>days</th><th>days with a failed "
        "check</th><th>days with a warning</th><th>paid out</th></tr>",
    ]
    parts += [
        f"<tr><td><a href='#l{p.ledger_id}'>{p.ledger_id}</a></td><td>{p.currency or ''}</td>"
        f"<td>{p.days}</td><td>{p.failed_days}</td><td>{p.warned_days}</td><td>{p.paid_out}</td></tr>"
        for p in pictures
    ]
    parts.append("</table>")
    for p in pictures:
        parts.append(f"<h2 id='l{p.ledger_id}'>Ledger {p.ledger_id}</h2>")
        parts += [img_tag(p.pngs[name], f"{name} of ledger {p.ledger_id}") for name in CHARTS]
        parts.append(arrivals.get(p.ledger_id, ""))
    parts.append("</body></html>")
    return "\n".join(parts)
