"""A balanced double-entry journal per ledger-day, ready to post to the books.

The vendor's modelling advice: an account for funds held at Vipps MobilePay (sales are booked
against it), an account for fees owed to them, and a payout as a transfer between two of the
merchant's own accounts, not income. Every report entry moves one of the two ledger accounts
by its signed amount, so each entry (or each entry type of a day, summed) is booked as one
debit and one credit: the ledger account on one side, the entry type's account on the other.
That keeps every day balanced by construction, and the ledger accounts' movement equal to the
day's movement in the reports, which the journal check verifies.

Which account takes the other side is a user-editable TOML file (``journal_accounts.toml``
ships the defaults; VIPPS_JOURNAL_ACCOUNTS points at your own). Entry types the vendor adds
without notice go to the suspense account and are reported, never dropped.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from vipps_pipeline.domain import TOPICS, minor_to_text
from vipps_pipeline.settings import SettingsError
from vipps_pipeline.store.schemas import JOURNAL_SCHEMA

OPENING_TYPE = "opening balance"
"""The entry type of the lines that book a ledger's balance before its first stored date (see
:mod:`vipps_pipeline.books.opening`): a space, so no vendor entry type can be taken for it.
They are not movements of the day, so the movement checks leave them out."""

CSV_COLUMNS = ["date", "voucher", "account", "account_name", "text", "debit", "credit", "currency"]


@dataclass(frozen=True)
class Chart:
    """Accounts by key (number, name), the account carrying each ledger, and the other side of
    each (topic, entry type)."""

    accounts: dict[str, tuple[str, str]]
    ledgers: dict[str, str]
    other_side: dict[str, str]  # "funds/capture" -> account key
    unmapped: str
    source: str

    def account(self, key: str) -> tuple[str, str]:
        return self.accounts[key]


def load_chart(path: str | Path | None = None) -> Chart:
    """Read and check a chart of accounts; a mistake names the file, table and key."""
    if path:
        source = str(path)
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"VIPPS_JOURNAL_ACCOUNTS: no such file {source}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(
                f"VIPPS_JOURNAL_ACCOUNTS: {source} is not valid TOML: {exc}"
            ) from None
    else:
        source = "vipps_pipeline/books/journal_accounts.toml"
        raw = tomllib.loads(
            resources.files("vipps_pipeline.books")
            .joinpath("journal_accounts.toml")
            .read_text("utf-8")
        )
    accounts = {}
    for key, value in (raw.get("accounts") or {}).items():
        if not isinstance(value, dict) or not {"number", "name"} <= set(value):
            raise SettingsError(f"{source}: [accounts] {key} needs a number and a name")
        accounts[key] = (str(value["number"]), str(value["name"]))

    def known(table: str, key: str, value: object) -> str:
        if value not in accounts:
            raise SettingsError(
                f"{source}: [{table}] {key} = {value!r} is not an account in [accounts]"
            )
        return str(value)

    ledgers = {t: known("ledgers", t, (raw.get("ledgers") or {}).get(t)) for t in TOPICS}
    other_side = {
        f"{topic}/{entry_type}": known(topic, entry_type, account)
        for topic in TOPICS
        for entry_type, account in (raw.get(topic) or {}).items()
    }
    unmapped = known("unmapped", "account", (raw.get("unmapped") or {}).get("account"))
    return Chart(accounts, ledgers, other_side, unmapped, source)


def _booked_amounts(entries: pd.DataFrame, per_entry: bool) -> pd.DataFrame:
    """What to book: one non-zero amount per day, topic and entry type (summed), or per entry
    with its pspReference; in report order, so the journal reads like the ledger."""
    keys = ["ledger_date", "topic", "entry_type"]
    if per_entry:
        base = entries[[*keys, "seq", "amount", "currency", "psp_reference"]].copy()
        base["entries"] = 1
    else:
        base = (
            entries.groupby(keys, sort=True)
            .agg(
                amount=("amount", "sum"),
                entries=("amount", "size"),
                currency=("currency", "first"),
                seq=("seq", "min"),
            )
            .reset_index()
        )
        base["psp_reference"] = None
    base = base.sort_values(["ledger_date", "topic", "seq"], kind="stable")
    return base[base.amount != 0].reset_index(drop=True)


def _two_sides(base: pd.DataFrame, chart: Chart) -> pd.DataFrame:
    """How to book each amount: the ledger's account on one side and the entry type's account
    on the other, debit first; an amount that raises the ledger debits the ledger account."""
    typed = base.topic + "/" + base.entry_type
    other = typed.map(chart.other_side)
    unmapped = other.isna().to_numpy()
    other = other.fillna(chart.unmapped)
    main = base.topic.map(chart.ledgers)
    amount = base.amount.astype("int64").to_numpy()
    up = amount > 0
    value = np.abs(amount)
    text = np.where(
        base.entries.to_numpy() > 1,
        base.entry_type + " (" + base.entries.astype(str) + " entries)",
        base.entry_type + base.psp_reference.fillna("").map(lambda p: f" {p}" if p else ""),
    )
    n = len(base)
    zero = np.zeros(n, dtype="int64")
    sides = []
    for side, keys, debit, credit in (
        (0, np.where(up, main, other), value, zero),
        (1, np.where(up, other, main), zero, value),
    ):
        sides.append(
            pd.DataFrame(
                {
                    "ledger_date": base.ledger_date,
                    "topic": base.topic,
                    "entry_type": base.entry_type,
                    "account": [chart.accounts[k][0] for k in keys],
                    "account_name": [chart.accounts[k][1] for k in keys],
                    "debit": debit,
                    "credit": credit,
                    "currency": base.currency,
                    "entries": base.entries.astype("int64"),
                    "psp_reference": base.psp_reference,
                    "text": text,
                    "unmapped": unmapped,
                    "_order": np.arange(n) * 2 + side,
                }
            )
        )
    return pd.concat(sides, ignore_index=True)


def journal(
    entries: pd.DataFrame, ledger_id: str, chart: Chart, per_entry: bool = False
) -> pa.Table:
    """Journal lines for the report rows in ``entries`` (one or more days, both topics).

    ``entries`` has the columns of :data:`vipps_pipeline.books.statements.RULE_COLUMNS`. By default
    one debit and one credit per day, topic and entry type (the amounts summed); with
    ``per_entry`` one pair per entry, carrying its pspReference.
    """
    if entries.empty:
        return JOURNAL_SCHEMA.empty_table()
    base = _booked_amounts(entries, per_entry)
    if base.empty:
        return JOURNAL_SCHEMA.empty_table()
    lines = _two_sides(base, chart).sort_values(["ledger_date", "_order"])
    lines["line"] = lines.groupby("ledger_date").cumcount().astype("int32")
    lines["ledger_id"] = ledger_id
    lines["voucher"] = ledger_id + "-" + lines.ledger_date.map(lambda d: d.isoformat())
    return pa.Table.from_pandas(
        lines[JOURNAL_SCHEMA.names], schema=JOURNAL_SCHEMA, preserve_index=False
    )


@dataclass(frozen=True)
class DayCheck:
    """The journal check of one day, in two parts because they mean different things to the
    accountant: ``problems`` are errors (the day does not balance or does not tie to its
    reports); ``unmapped`` are entry types the chart has no account for, booked to suspense.
    A suspense booking still balances, so it is a warning naming what to map, not a failure.
    """

    problems: tuple[str, ...] = ()
    unmapped: tuple[tuple[str, str, int], ...] = ()
    """(topic, entry type, the amount it moved its ledger in minor units), per unmapped type."""
    suspense: str = ""
    """The suspense account's number and the chart to map them in, for the warning's text."""
    # the amounts behind ``problems``, for words that show them (alerts); not part of the
    # verdict, so two checks that say the same compare equal whatever the day's volume
    totals: tuple[int, int] = field(default=(0, 0), compare=False)
    """The day's (debits, credits) in minor units."""
    untied: tuple[tuple[str, str, int, int], ...] = field(default=(), compare=False)
    """(topic, ledger account number, what it moved, what its report moved) per ledger
    account that did not move as its report did, in minor units."""

    @property
    def balanced(self) -> bool:
        """Debits equal credits and every ledger account moved as its report did."""
        return not self.problems

    def warning(self, currency: str | None) -> str:
        """What to map, with the amounts: empty when every entry type had an account."""
        if not self.unmapped:
            return ""
        listed = ", ".join(
            f"{topic} {entry_type} {minor_to_text(amount, currency)} {currency or ''}".rstrip()
            for topic, entry_type, amount in self.unmapped
        )
        return (
            f"balanced, but entry type(s) without an account were booked to {self.suspense}: "
            f"{listed}"
        )


def day_balance(lines: pa.Table, movements: dict[str, int], chart: Chart) -> DayCheck:
    """The journal check of one day: debits equal credits, each ledger account moved exactly
    as much as its report did that day, and which entry types went to suspense.

    A day is a few dozen lines, checked once per ledger-day of every sync: plain Python over
    its columns, not a DataFrame per day (which cost the first sync 7 ms per ledger-day)."""
    cols = lines.select(["topic", "account", "entry_type", "debit", "credit", "unmapped"])
    rows = list(zip(*cols.to_pydict().values(), strict=True))
    problems = []
    debit, credit = sum(r[3] for r in rows), sum(r[4] for r in rows)
    if debit != credit:
        problems.append(f"debits {debit} != credits {credit}")
    unmapped, untied = [], []
    for topic, moved in movements.items():
        number = chart.account(chart.ledgers[topic])[0]
        mine = [r for r in rows if r[0] == topic and r[1] == number and r[2] != OPENING_TYPE]
        net = sum(r[3] for r in mine) - sum(r[4] for r in mine)
        if net != moved:
            problems.append(f"{topic} ledger account {number} moved {net}, the report {moved}")
            untied.append((topic, number, net, int(moved)))
        odd: dict[str, int] = {}
        for r in mine:
            if r[5]:
                odd[r[2]] = odd.get(r[2], 0) + r[3] - r[4]
        unmapped += [(topic, entry_type, odd[entry_type]) for entry_type in sorted(odd)]
    suspense = f"suspense account {chart.account(chart.unmapped)[0]} (map them in {chart.source})"
    return DayCheck(
        problems=tuple(problems),
        unmapped=tuple(unmapped),
        suspense=suspense if unmapped else "",
        totals=(debit, credit),
        untied=tuple(untied),
    )


def stored_verdicts(lines: pd.DataFrame, statements: pd.DataFrame, chart: Chart) -> pd.DataFrame:
    """The journal check of every stored day at once, from the stored lines and statements:
    per ledger and date, ``failed`` (debits differ from credits, or a ledger account did not
    move as its statement did) and ``warned`` (an entry type was booked to suspense).

    The same rule as :func:`day_balance`, for readers of the files (the report) that never see
    the engine's events.
    """
    day = ["ledger_id", "ledger_date"]
    lines = lines.assign(debit=lines.debit.astype("int64"), credit=lines.credit.astype("int64"))
    per_day = lines.groupby(day).agg(
        debit=("debit", "sum"), credit=("credit", "sum"), warned=("unmapped", "any")
    )
    ledger_account = {t: chart.account(chart.ledgers[t])[0] for t in TOPICS}
    mine = lines[
        (lines.account == lines.topic.map(ledger_account)) & (lines.entry_type != OPENING_TYPE)
    ]
    net = (mine.debit - mine.credit).groupby([mine.ledger_id, mine.ledger_date, mine.topic]).sum()
    moved = statements.set_index([*day, "topic"]).sum_amount.astype("int64")
    booked = pd.MultiIndex.from_arrays(
        [moved.index.get_level_values(0), moved.index.get_level_values(1)]
    )
    moved = moved[booked.isin(per_day.index)]  # a day not booked yet is not a failed journal
    both = pd.concat({"net": net, "moved": moved}, axis=1).fillna(0)
    untied = (both.net != both.moved).groupby(level=[0, 1]).any().rename("untied")
    out = per_day.join(untied, how="outer")
    out["warned"] = out.warned.fillna(False).astype(bool)
    unequal = out.debit.fillna(0) != out.credit.fillna(0)
    out["failed"] = unequal | out.untied.fillna(False).astype(bool)
    return out[["failed", "warned"]].reset_index()


def csv_rows(lines: pa.Table) -> pa.Table:
    """The journal as a plain CSV table for accounting imports: major units, one line each."""
    col = lines.to_pydict()
    money = {
        name: [
            minor_to_text(v, c) if v else ""
            for v, c in zip(col[name], col["currency"], strict=True)
        ]
        for name in ("debit", "credit")
    }
    return pa.table(
        {
            "date": [d.isoformat() for d in col["ledger_date"]],
            "voucher": col["voucher"],
            "account": col["account"],
            "account_name": col["account_name"],
            "text": col["text"],
            "debit": money["debit"],
            "credit": money["credit"],
            "currency": col["currency"],
        }
    )
