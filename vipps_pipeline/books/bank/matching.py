"""Which bank line shows which payout arrived: pure rules, in the order the issue sets.

1. Text: the payout's settlement number (``<ledgerId>-<n>``'s ``n``) in a credit's text, same
   currency: ``matched`` when the amount agrees, ``amount_differs`` when it does not.
2. Amount: where the text is missing or cut, a credit of the same amount and currency booked
   from the ledger date up to the due date (``VIPPS_PAYOUT_GRACE_DAYS`` banking days later).
3. Otherwise ``missing`` when the statements cover every day it could have arrived on (its
   ledger date to its due date), ``in_transit`` when they do not reach the due date yet,
   ``not_covered`` when they reach it but miss some of those days (the payout is older than
   the first statement imported, or falls in a gap between statements); ``aborted`` when a
   ``payout-aborted`` returned it.

A bank line is used for one payout at most; payouts are served oldest first, each taking the
earliest line that fits, so a later payout of the same amount cannot steal an earlier one's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from vipps_pipeline.books.bank.calendar import add_banking_days

MATCHED = "matched"
AMOUNT_DIFFERS = "amount_differs"
IN_TRANSIT = "in_transit"
MISSING = "missing"
NOT_COVERED = "not_covered"
ABORTED = "aborted"
PAYOUT_STATUSES = (MATCHED, AMOUNT_DIFFERS, IN_TRANSIT, MISSING, NOT_COVERED, ABORTED)
UNEXPECTED = "unexpected"
OTHER = "other"
LINE_STATUSES = (MATCHED, UNEXPECTED, OTHER)

VENDOR_NAME = re.compile(r"vipps|mobile\s*pay", re.IGNORECASE)
VENDOR_TEXT = re.compile(r"\butb\.?\s*\d+|vippsnr|mobile\s*pay", re.IGNORECASE)
"""A credit from the vendor: its name as the debtor, or the documented transfer text
``Utb. <settlement_number> Vippsnr <serial_no>`` (whole or in part)."""


@dataclass(frozen=True)
class Payout:
    ledger_id: str
    ledger_date: date
    psp_reference: str
    amount: int
    """Paid out, positive, minor units."""
    currency: str
    country: str
    aborted: bool = False
    account_hint: str | None = None
    """The payout account's last digits, as the ledger list shows them (masked)."""

    @property
    def number(self) -> str:
        """The settlement number the bank text carries: ``<ledgerId>-<n>``'s ``n``."""
        return self.psp_reference.rsplit("-", 1)[-1]


@dataclass(frozen=True)
class Line:
    line_id: str
    booking_date: date
    amount: int
    currency: str
    text: str | None = None
    debtor_name: str | None = None
    account: str | None = None
    statement_to: date | None = None
    statement_from: date | None = None
    """The first date its statement covers; None when the file did not say (a CSV export, or
    a line stored before this was kept): its statement's earliest booking is taken instead."""


@dataclass(frozen=True)
class Decision:
    """One payout's status and the line that decided it (None for the unmatched)."""

    payout: Payout
    status: str
    due: date
    line: Line | None = None
    matched_by: str | None = None


def looks_like_payout(line: Line) -> bool:
    """A credit the vendor sent: worth an ``unexpected`` when no payout explains it."""
    return line.amount > 0 and bool(
        VENDOR_NAME.search(line.debtor_name or "") or VENDOR_TEXT.search(line.text or "")
    )


DIGITS = re.compile(r"\d+")


def coverage(payout: Payout, lines: list[Line]) -> list[tuple[date, date]]:
    """The periods the statements of the payout's account cover, merged where they touch:
    the accounts ending in its masked digits when there are such, otherwise every account in
    its currency."""
    same = [ln for ln in lines if ln.currency == payout.currency and ln.statement_to]
    hint = (payout.account_hint or "").strip("*x• ")
    if hint:
        mine = [ln for ln in same if (ln.account or "").replace(" ", "").endswith(hint)]
        same = mine or same
    first: dict[tuple[str | None, date | None], date] = {}
    for ln in same:  # a statement's earliest booking, where it did not say its first date
        key = (ln.account, ln.statement_to)
        first[key] = min(first.get(key, ln.booking_date), ln.booking_date)
    periods = sorted(
        {
            (ln.statement_from or first[(ln.account, ln.statement_to)], ln.statement_to)
            for ln in same
        }
    )
    merged: list[tuple[date, date]] = []
    for start, end in periods:
        if merged and start <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def unseen(payout: Payout, due: date, periods: list[tuple[date, date]]) -> str:
    """Why no line shows a payout: the statements do not reach its due date yet, they cover
    every day it could have arrived on, or they miss some of those days."""
    if not periods or periods[-1][1] < due:
        return IN_TRANSIT
    if any(start <= payout.ledger_date and due <= end for start, end in periods):
        return MISSING
    return NOT_COVERED


class _Free:
    """The lines not used yet, indexed by the numbers in their text and by (currency,
    amount), oldest first: a year of payouts against a year of lines stays linear."""

    def __init__(self, lines: list[Line]) -> None:
        self.used: set[str] = set()
        self._numbers: dict[str, list[Line]] = {}
        self._amounts: dict[tuple[str, int], list[Line]] = {}
        for ln in sorted(lines, key=lambda ln: (ln.booking_date, ln.line_id)):
            if ln.amount <= 0:
                continue
            for number in set(DIGITS.findall(ln.text or "")):
                self._numbers.setdefault(number, []).append(ln)
            self._amounts.setdefault((ln.currency, ln.amount), []).append(ln)

    def by_text(self, p: Payout) -> tuple[Line, str] | None:
        named = [
            ln
            for ln in self._numbers.get(p.number, [])
            if ln.line_id not in self.used
            and ln.currency == p.currency
            and ln.booking_date >= p.ledger_date
        ]
        exact = [ln for ln in named if ln.amount == p.amount]
        if exact:
            return exact[0], MATCHED
        return (named[0], AMOUNT_DIFFERS) if named else None

    def by_amount(self, p: Payout, due: date) -> Line | None:
        return next(
            (
                ln
                for ln in self._amounts.get((p.currency, p.amount), [])
                if ln.line_id not in self.used and p.ledger_date <= ln.booking_date <= due
            ),
            None,
        )


def match(payouts: list[Payout], lines: list[Line], grace_days: int) -> list[Decision]:
    """Every payout's decision (in ledger-date order); see the module's rules."""
    free = _Free(lines)
    todo = sorted(payouts, key=lambda p: (p.ledger_date, p.ledger_id, p.psp_reference))
    due = {p: add_banking_days(p.ledger_date, grace_days, p.country) for p in todo}
    decided: dict[Payout, Decision] = {}
    covered: dict[tuple[str, str | None], list[tuple[date, date]]] = {}
    for p in todo:
        if p.aborted:
            decided[p] = Decision(p, ABORTED, due[p])
        elif found := free.by_text(p):
            free.used.add(found[0].line_id)
            decided[p] = Decision(p, found[1], due[p], found[0], "text")
    for p in todo:
        if p in decided:
            continue
        if line := free.by_amount(p, due[p]):
            free.used.add(line.line_id)
            decided[p] = Decision(p, MATCHED, due[p], line, "amount")
            continue
        key = (p.currency, p.account_hint)
        if key not in covered:
            covered[key] = coverage(p, lines)
        decided[p] = Decision(p, unseen(p, due[p], covered[key]), due[p])
    return [decided[p] for p in todo]


def line_statuses(lines: list[Line], decisions: list[Decision]) -> dict[str, tuple[str, str]]:
    """Every line's (status, pspReference of its payout or "")."""
    used = {d.line.line_id: d.payout.psp_reference for d in decisions if d.line is not None}
    out = {}
    for ln in lines:
        if ln.line_id in used:
            out[ln.line_id] = (MATCHED, used[ln.line_id])
        else:
            out[ln.line_id] = (UNEXPECTED if looks_like_payout(ln) else OTHER, "")
    return out
