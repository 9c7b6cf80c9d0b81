"""What every statement format becomes: bank lines with money in minor units and a stable key.

A bank file is hostile input: it is parsed whole or not at all, and a problem is raised as
:class:`BadStatement` naming the file and the line, so an import never stores half a file.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from vipps_pipeline.domain import currency_digits

MAX_STATEMENT_BYTES = 50 * 1024 * 1024
"""The largest statement file read (50 MiB: years of a busy account); a larger one is refused."""

BankLine = dict[str, Any]
"""One line, with the columns of :data:`vipps_pipeline.store.schemas.BANK_LINE_SCHEMA`."""


class BadStatement(ValueError):
    """A bank file that cannot be read; the message names the file and what is wrong."""


def to_minor(text: str, currency: str, where: str) -> int:
    """A decimal amount in major units ("1234.50", "1 234,50", "-12") as integer minor units;
    more decimals than the currency has is an error, never a rounding."""
    raw = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    if "," in raw and "." in raw:
        raw = raw.replace(".", "").replace(",", ".") if raw.rfind(",") > raw.rfind(".") else raw
        raw = raw.replace(",", "")
    else:
        raw = raw.replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadStatement(f"{where}: amount {text!r} is not a number") from None
    if not value.is_finite():
        raise BadStatement(f"{where}: amount {text!r} is not a number")
    minor = value.scaleb(currency_digits(currency))
    if minor != minor.to_integral_value():
        raise BadStatement(f"{where}: amount {text!r} has more decimals than {currency} has")
    return int(minor)


def parse_day(text: str, where: str) -> date:
    """A booking date as banks write it: ISO (``2025-04-02``, with or without a time) or
    Nordic (``02.04.2025``)."""
    raw = text.strip()[:10]
    try:
        if len(raw) == 10 and raw[2] == "." and raw[5] == ".":
            return date(int(raw[6:]), int(raw[3:5]), int(raw[:2]))
        return date.fromisoformat(raw)
    except (ValueError, IndexError):
        raise BadStatement(f"{where}: date {text!r} is neither YYYY-MM-DD nor DD.MM.YYYY") from None


def with_keys(lines: list[BankLine]) -> list[BankLine]:
    """Give every line its ``line_id``: the bank's reference where it has one, otherwise a
    digest of what the line says plus how many identical lines came before it in the file,
    so two statements that overlap give the same ids to the same lines."""
    seen: Counter[tuple] = Counter()
    for line in lines:
        if line.get("bank_reference"):
            line["line_id"] = f"{line.get('account') or ''}/ref/{line['bank_reference']}"
            continue
        what = (
            line.get("account") or "",
            line["booking_date"].isoformat(),
            str(line["amount"]),
            line["currency"],
            line.get("text") or "",
        )
        nth = seen[what]
        seen[what] += 1
        digest = hashlib.sha256("\x1f".join([*what, str(nth)]).encode()).hexdigest()[:24]
        line["line_id"] = f"{what[0]}/sha/{digest}"
    return lines
