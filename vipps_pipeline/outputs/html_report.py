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
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vipps_pipeline.books.journal import Chart, load_chart, stored_verdicts
from vipps_pipeline.domain import STATUS_RANK, Status, currency_digits, minor_to_text
from vipps_pipeline.lake.tables import table_rows
from vipps_pipeline.outputs.payouts_html import sections
from vipps_pipeline.store.atomic import atomic_file, write_json
from vipps_pipeline.store.objstore import DataDir, as_dir

STATUS_COLORS = {
    Status.PASS: "#2e7d32",
    Status.PENDING: "#f9a825",
    Status.UNKNOWN: "#9e9e9e",
    Status.FAIL: "#c62828",
}
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


def _png(fig) -> bytes:
    for ax in fig.axes:
        if ax.get_title().startswith("Reconciliation"):
            continue
        locator = matplotlib.dates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))
        if not ax.get_title().startswith("Fee rate"):  # money: whole units, thousands apart
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.grid(axis="y", color="#eee")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _unit(currency: str | None) -> str:
    return f" ({currency})" if currency else ""


def _major(values: pd.Series, currency: str | None) -> pd.Series:
    return values.astype("float64") / (10 ** currency_digits(currency))  # plot positions only


def _balance_chart(st: pd.DataFrame, ledger_id: str, currency: str | None) -> bytes:
    """Balances at day end, before the payout (a daily payout empties the ledger every day);
    a quiet day keeps the previous balance."""
    fig, ax = plt.subplots(figsize=(8, 2.8))
    for topic, color in (("funds", "#1565c0"), ("fees", "#6a1b9a")):
        rows = st[st.topic == topic].set_index("ledger_date")
        closing = rows.closing_balance.astype("float64").ffill()
        if topic == "funds":
            closing = closing + rows.payout_amount.fillna(0).astype("float64")
        ax.step(closing.index, _major(closing, currency), where="post", label=topic, color=color)
    ax.set_title(f"Ledger {ledger_id}: balance at day end, before the payout{_unit(currency)}")
    ax.axhline(0, color="#444", linewidth=0.5)
    ax.legend(loc="upper left")
    return _png(fig)


def _payouts_chart(funds: pd.DataFrame, currency: str | None) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 2.4))
    paid = funds.payout_amount.fillna(0)
    ax.bar(paid.index, _major(paid, currency), color="#2e7d32", width=0.8)
    ax.set_title(f"Daily payouts{_unit(currency)}")
    return _png(fig)


def _fee_rate_chart(funds: pd.DataFrame, fees: pd.DataFrame) -> bytes:
    """Fees charged over captures, per day, in percent."""

    def total(frame: pd.DataFrame, types: tuple[str, ...]) -> pd.Series:
        return frame.total_by_type.map(lambda m: sum(v for k, v in (m or []) if k in types)).astype(
            "float64"
        )

    captured = total(funds, ("capture",))
    charged = -total(fees, ("capture-fee", "service-fee"))
    rate = (charged / captured.reindex(charged.index)).replace([np.inf, -np.inf], np.nan) * 100
    fig, ax = plt.subplots(figsize=(8, 2.4))
    ax.plot(rate.index, rate.values, marker=".", color="#6a1b9a")
    ax.set_title("Fee rate: fees charged / captures (%)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.2f}"))
    return _png(fig)


def _calendar_chart(fi: pd.DataFrame) -> bytes:
    """The worst status per date and check, coloured by status."""
    grid = (
        fi.assign(rank=fi.status.map(STATUS_RANK))
        .pivot_table(index="check", columns="ledger_date", values="rank", aggfunc="max")
        .sort_index()
    )
    fig, ax = plt.subplots(figsize=(8, 0.3 * max(len(grid), 1) + 1.2))
    if not grid.empty:
        colors = [STATUS_COLORS[s] for s in sorted(Status, key=lambda s: s.rank)]
        cmap = matplotlib.colors.ListedColormap(colors)
        ax.imshow(grid.values, aspect="auto", cmap=cmap, vmin=-0.5, vmax=3.5)
        ax.set_yticks(range(len(grid)), grid.index, fontsize=7)
        step = max(1, len(grid.columns) // 10)
        ticks = list(range(0, len(grid.columns), step))
        ax.set_xticks(ticks, [grid.columns[i].isoformat() for i in ticks], fontsize=7, rotation=45)
    ax.set_title("Reconciliation: green pass, yellow pending, grey unknown, red fail")
    return _png(fig)


def ledger_pictures(
    ledger_id: str,
    statements: pd.DataFrame,
    findings: pd.DataFrame,
    journal: pd.DataFrame | None = None,
) -> LedgerPictures:
    """One ledger's charts and counts; ``journal`` is :func:`stored_verdicts` (None: none)."""
    st = statements[statements.ledger_id == ledger_id].sort_values("ledger_date")
    fi = findings[findings.ledger_id == ledger_id]
    currency = next(iter(st.currency.dropna()), None)
    funds = st[st.topic == "funds"].set_index("ledger_date")
    fees = st[st.topic == "fees"].set_index("ledger_date")
    pngs = {
        "balance": _balance_chart(st, ledger_id, currency),
        "payouts": _payouts_chart(funds, currency),
        "fee_rate": _fee_rate_chart(funds, fees),
        "calendar": _calendar_chart(fi),
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
    pictures = []
    for ledger_id in ids:
        pics = ledger_pictures(ledger_id, statements, findings, journal)
        for name, png in pics.pngs.items():
            with atomic_file(out / ledger_id / f"{name}.png") as tmp:
                tmp.write_bytes(png)
        pictures.append(pics)
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
