"""The report's four charts of a ledger as PNG, drawn fast enough for a partner's ledgers.

Drawing is nearly all of the report's time: B6 measured 141 s for 100 ledgers x 365 days, in
matplotlib making a figure, axes and tick labels for each of 400 charts, laying out a tight
bounding box (which draws each figure twice) and drawing a Rectangle per daily payout. So each
chart's figure is made once per report, with fixed margins, and reused for every ledger: only
its data, title and limits change before it is drawn again. Payouts are one line of thick
vertical strokes, and PNGs are compressed lightly. Plot positions are floats; the amounts
the report prints are computed elsewhere, exactly.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vipps_pipeline.domain import STATUS_RANK, Status, currency_digits

STATUS_COLORS = {
    Status.PASS: "#2e7d32",
    Status.PENDING: "#f9a825",
    Status.UNKNOWN: "#9e9e9e",
    Status.FAIL: "#c62828",
}
FIG_WIDTH, DPI = 8.0, 90  # inches; the page shows them at most its width
PNG_OPTIONS = {"compress_level": 1}  # zlib's fastest: encoding took a fifth of the time at 6


def _figure(height: float, left: float = 0.95, bottom: float = 0.45) -> tuple[Figure, Axes]:
    """A figure with fixed margins (inches), outside pyplot (nothing global to close)."""
    fig = Figure(figsize=(FIG_WIDTH, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=left / FIG_WIDTH,
        right=1 - 0.15 / FIG_WIDTH,
        bottom=bottom / height,
        top=1 - 0.3 / height,
    )
    return fig, fig.add_subplot()


def _date_axis(ax: Axes, money: bool = True) -> None:
    """Dates below (concise labels), whole units thousands apart at the side for money."""
    locator = mdates.AutoDateLocator(minticks=2, maxticks=8)  # a 5-day range: daily, not hourly
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}" if money else "{x:.2f}"))
    ax.grid(axis="y", color="#eee")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, pil_kwargs=PNG_OPTIONS)
    return buf.getvalue()


def _x(index: pd.Index) -> np.ndarray:
    """Ledger dates as matplotlib's date numbers."""
    return mdates.date2num(np.asarray(index, dtype="datetime64[D]"))


def _rescale(ax: Axes) -> None:
    ax.relim()
    ax.autoscale_view()


def _unit(currency: str | None) -> str:
    return f" ({currency})" if currency else ""


def _major(values: pd.Series, currency: str | None) -> np.ndarray:
    return (values.astype("float64") / (10 ** currency_digits(currency))).to_numpy()


class Charts:
    """The four figures, made once and redrawn with each ledger's data."""

    def __init__(self) -> None:
        self._balance = _figure(2.8)
        ax = self._balance[1]
        self._steps = {
            topic: ax.plot([], [], drawstyle="steps-post", label=topic, color=color)[0]
            for topic, color in (("funds", "#1565c0"), ("fees", "#6a1b9a"))
        }
        ax.axhline(0, color="#444", linewidth=0.5)
        ax.legend(loc="upper left")
        _date_axis(ax)
        self._payouts = _figure(2.4)
        ax = self._payouts[1]
        self._bars = ax.plot([], [], color="#2e7d32", solid_capstyle="butt")[0]
        _date_axis(ax)
        self._fee_rate = _figure(2.4, left=0.6)
        ax = self._fee_rate[1]
        self._rate = ax.plot([], [], marker=".", color="#6a1b9a")[0]
        ax.set_title("Fee rate: fees charged / captures (%)")
        _date_axis(ax, money=False)
        self._calendars: dict[tuple[int, int], tuple[Figure, Axes, object]] = {}

    def balance(self, st: pd.DataFrame, ledger_id: str, currency: str | None) -> bytes:
        """Balances at day end, before the payout (a daily payout empties the ledger every
        day); a quiet day keeps the previous balance."""
        fig, ax = self._balance
        for topic, line in self._steps.items():
            rows = st[st.topic == topic].set_index("ledger_date")
            closing = rows.closing_balance.astype("float64").ffill()
            if topic == "funds":
                closing = closing + rows.payout_amount.fillna(0).astype("float64")
            line.set_data(_x(closing.index), _major(closing, currency))
        ax.set_title(f"Ledger {ledger_id}: balance at day end, before the payout{_unit(currency)}")
        _rescale(ax)
        return _png(fig)

    def payouts(self, funds: pd.DataFrame, currency: str | None) -> bytes:
        """A bar per day, drawn as one line of vertical strokes 0.8 days wide (a Rectangle per
        day took most of the chart's time)."""
        fig, ax = self._payouts
        paid = funds.payout_amount.fillna(0)
        x, y = _x(paid.index), _major(paid, currency)
        gap, zero = np.full(len(x), np.nan), np.zeros(len(x))
        strokes = np.column_stack([x, x, gap]), np.column_stack([zero, y, gap])
        self._bars.set_data(strokes[0].ravel(), strokes[1].ravel())
        self._bars.set_linewidth(max(0.5, 0.8 * (FIG_WIDTH - 1.1) * 72 / max(len(x), 1)))
        ax.set_title(f"Daily payouts{_unit(currency)}")
        _rescale(ax)
        return _png(fig)

    def fee_rate(self, funds: pd.DataFrame, fees: pd.DataFrame) -> bytes:
        """Fees charged over captures, per day, in percent."""

        def total(frame: pd.DataFrame, types: tuple[str, ...]) -> pd.Series:
            return frame.total_by_type.map(
                lambda m: sum(v for k, v in (m or []) if k in types)
            ).astype("float64")

        captured = total(funds, ("capture",))
        charged = -total(fees, ("capture-fee", "service-fee"))
        rate = (charged / captured.reindex(charged.index)).replace([np.inf, -np.inf], np.nan) * 100
        fig, ax = self._fee_rate
        self._rate.set_data(_x(rate.index), rate.to_numpy(dtype="float64"))
        _rescale(ax)
        return _png(fig)

    def calendar(self, fi: pd.DataFrame) -> bytes:
        """The worst status per date and check, coloured by status."""
        grid = (
            fi.assign(rank=fi.status.map(STATUS_RANK))
            .pivot_table(index="check", columns="ledger_date", values="rank", aggfunc="max")
            .sort_index()
        )
        labels = max((len(str(c)) for c in grid.index), default=0)
        fig, ax, image = self._calendar(len(grid), labels)
        image.set_visible(not grid.empty)
        if grid.empty:
            ax.set_xticks([])
            ax.set_yticks([])
            return _png(fig)
        rows, columns = grid.shape
        image.set_data(grid.to_numpy(dtype="float64"))
        image.set_extent((-0.5, columns - 0.5, rows - 0.5, -0.5))
        ax.set_xlim(-0.5, columns - 0.5)
        ax.set_ylim(rows - 0.5, -0.5)
        ax.set_yticks(range(rows), grid.index, fontsize=7)
        step = max(1, columns // 10)
        ticks = list(range(0, columns, step))
        ax.set_xticks(ticks, [grid.columns[i].isoformat() for i in ticks], fontsize=7, rotation=45)
        return _png(fig)

    def _calendar(self, rows: int, labels: int) -> tuple[Figure, Axes, object]:
        """The calendar's figure for ``rows`` checks whose names are up to ``labels`` long."""
        key = (rows, labels)
        if key not in self._calendars:
            fig, ax = _figure(0.3 * max(rows, 1) + 1.2, left=0.1 + 0.06 * labels, bottom=0.75)
            colors = [STATUS_COLORS[s] for s in sorted(Status, key=lambda s: s.rank)]
            cmap = mcolors.ListedColormap(colors)
            image = ax.imshow(
                np.zeros((1, 1)),
                aspect="auto",
                cmap=cmap,
                vmin=-0.5,
                vmax=3.5,
                interpolation="nearest",
            )
            ax.set_title("Reconciliation: green pass, yellow pending, grey unknown, red fail")
            self._calendars[key] = (fig, ax, image)
        return self._calendars[key]
