"""What every check needs: the registry, the inputs of one reconciliation, shared wording.

A check is a plain function from :class:`CheckInputs` to findings, registered with its name,
its description and the group it is shown in as a Dagster asset check. The registry is the one
declaration of a check: the findings' ``check`` column, the asset check descriptions and the
groups are all read from it, so adding a check is adding one decorated function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import pandas as pd

from vipps_pipeline.books.statements import day_totals
from vipps_pipeline.domain import TOPICS

MAX_LISTED = 10


@dataclass
class CheckInputs:
    """Everything one reconciliation of a ledger reads; the derived frames are built once.

    ``funds``/``fees`` may hold more days than ``targets`` (the fee window on either side);
    ``entries`` holds both topics on the target dates only.
    """

    ledger_id: str
    entries: pd.DataFrame
    funds: pd.DataFrame
    fees: pd.DataFrame
    statement_rows: pd.DataFrame
    targets: list[date]
    funds_dates: set[date]
    fees_dates: set[date]
    first_date: date
    window: int
    settlement: str | None

    @cached_property
    def keys(self) -> list[tuple[str, date]]:
        """Every (topic, target date), in the order findings are made."""
        return [(t, d) for d in self.targets for t in TOPICS]

    @cached_property
    def day_totals(self) -> dict[tuple[str, date], tuple]:
        """:func:`~vipps_pipeline.books.statements.day_totals` of the target entries."""
        return day_totals(self.entries)


CheckFn = Callable[[CheckInputs], list[dict]]


@dataclass(frozen=True)
class Check:
    """A registered check: ``name`` is the findings' ``check`` value, ``group`` the Dagster asset
    check it is shown under."""

    name: str
    group: str
    description: str
    run: CheckFn


REGISTRY: dict[str, Check] = {}
"""Every check by name, in registration order (the order of the groups and of their checks)."""


def check(group: str, name: str, description: str) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the check ``name`` shown in the asset check ``group``."""

    def register(fn: CheckFn) -> CheckFn:
        if name in REGISTRY:
            raise ValueError(f"check {name} registered twice")
        REGISTRY[name] = Check(name, group, description, fn)
        return fn

    return register


def listed(parts: list[str]) -> str:
    """The first :data:`MAX_LISTED` problems and how many more: a broken import can list
    thousands, and a finding's detail must stay readable."""
    more = len(parts) - MAX_LISTED
    return "; ".join(parts[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def entry(row: dict) -> str:
    """How a finding names an entry: the ledger's sequence number and the payment it belongs to."""
    return f"seq {row['seq']} (psp {row['psp_reference']})"


def grouped(frame: pd.DataFrame) -> dict[tuple[str, date], list[dict]]:
    """Rows by (topic, ledger date) as plain dicts; used only for the few rows that matter."""
    out: dict[tuple[str, date], list[dict]] = {}
    for row in frame.to_dict("records"):
        out.setdefault((row["topic"], row["ledger_date"]), []).append(row)
    return out
