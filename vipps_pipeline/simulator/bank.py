"""The bank side of the simulated payouts: the lines a merchant's bank statement would show.

Each payout arrives on the next banking day of its account's country (weekends and that
country's holidays skipped) with the documented text ``Utb. <settlement_number> Vippsnr
<serial_no>``, or the ledger's own transfer text where it has one, from the debtor "Vipps
MobilePay AS". A few payouts are deliberately different, chosen by a hash of the payout so a
test can ask for the truth: the text shortened past the number (``short``), no text at all
(``no_text``), days late (``late``), or never arriving (``missing``). A payout that came back
as ``payout-aborted`` never reaches the bank. Other credits and debits (card settlements,
rent) and one unexplained credit from the vendor per ledger and quarter fill the statement.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

import holidays

from vipps_pipeline.simulator.ledgers import LedgerSpec
from vipps_pipeline.simulator.model import World

PAYOUT_KINDS = ("payout-scheduled", "scheduled-for-payout")
VENDOR = "Vipps MobilePay AS"
LATE_DAYS = 6
"""Banking days a ``late`` payout takes beyond the usual one."""


@dataclass(frozen=True)
class SimBankLine:
    account: str
    currency: str
    booking_date: date
    amount: int
    """Signed minor units: money in is positive."""
    text: str
    debtor: str
    psp_reference: str | None = None


@dataclass
class SimBank:
    """The simulated bank: its lines, and each payout's fate (``normal``, ``short``,
    ``no_text``, ``late``, ``missing``, ``aborted``) for tests to compare with."""

    lines: list[SimBankLine] = field(default_factory=list)
    fates: dict[str, str] = field(default_factory=dict)


@cache
def _bank_holidays(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


def country(spec: LedgerSpec) -> str:
    return spec.bank_account[0].rsplit(":", 1)[-1]


def next_banking_day(d: date, country_code: str, n: int = 1) -> date:
    while n:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in _bank_holidays(country_code):
            n -= 1
    return d


def fate(ledger_id: str, number: int) -> str:
    """Deterministic: about 3% missing, 3% without text, 4% shortened, 2% late."""
    h = zlib.crc32(f"{ledger_id}-{number}".encode()) % 100
    for limit, kind in ((3, "missing"), (6, "no_text"), (10, "short"), (12, "late")):
        if h < limit:
            return kind
    return "normal"


def transfer_text(spec: LedgerSpec, entry: dict) -> str:
    number = entry["pspReference"].rsplit("-", 1)[-1]
    serial = "".join(c for c in spec.recipient_handles[0] if c.isdigit())
    return entry["reference"] or f"Utb. {number} Vippsnr {serial}"


def _payout_line(spec: LedgerSpec, d: date, entry: dict, kind: str) -> SimBankLine | None:
    if kind in ("missing", "aborted"):
        return None
    text = transfer_text(spec, entry)
    text = {"short": text[:8], "no_text": ""}.get(kind, text)
    arrives = next_banking_day(d, country(spec), 1 + LATE_DAYS * (kind == "late"))
    return SimBankLine(
        spec.bank_account[1], spec.currency, arrives, -entry["amount"], text, VENDOR,
        entry["pspReference"],
    )  # fmt: skip


def _noise(spec: LedgerSpec, d: date) -> list[SimBankLine]:
    """What else the account shows: a card settlement most weekdays, rent on the 1st, and
    on the 15th of the quarter's middle month a credit from the vendor no payout explains."""
    acct, cur = spec.bank_account[1], spec.currency
    out = []
    if d.weekday() < 5 and zlib.crc32(f"{spec.ledger_id}{d}".encode()) % 3:
        out.append(SimBankLine(acct, cur, d, 10_000 + d.toordinal() % 9_000, "Kortoppgjør", "Nets"))
    if d.day == 1:
        out.append(SimBankLine(acct, cur, d, -1_500_000, "Husleie", ""))
    if d.day == 15 and d.month % 3 == 2:
        out.append(SimBankLine(acct, cur, d, 12_345, "Korreksjon", VENDOR))
    return out


def simulate_bank(world: World, start: date, end: date, until: date) -> SimBank:
    """Every ledger's bank lines for the payouts of ``start``..``end`` and the days up to
    ``until`` (the last date the statements cover)."""
    bank = SimBank()
    for spec in world.ledgers.values():
        d = max(start, spec.start)
        while d <= end:
            entries = world.day(spec.ledger_id, "funds", d).entries
            back = {
                e["pspReference"]
                for e in world.day(spec.ledger_id, "funds", d + timedelta(days=1)).entries
                if e["entryType"] == "payout-aborted"
            }
            for e in entries:
                if e["entryType"] not in PAYOUT_KINDS:
                    continue
                number = int(e["pspReference"].rsplit("-", 1)[-1])
                kind = "aborted" if e["pspReference"] in back else fate(spec.ledger_id, number)
                bank.fates[e["pspReference"]] = kind
                line = _payout_line(spec, d, e, kind)
                if line is not None and line.booking_date <= until:
                    bank.lines.append(line)
            d += timedelta(days=1)
        d = max(start, spec.start)
        while d <= until:
            bank.lines.extend(_noise(spec, d))
            d += timedelta(days=1)
    bank.lines.sort(key=lambda ln: (ln.account, ln.booking_date))
    return bank
