"""The entry-by-entry checks of a page: slow, but they name the first bad entry and field.

The whole-column paths of :mod:`vipps_pipeline.api.parse` only say *that* a page is bad; this
path runs when they do, so the error a maintainer reads says which entry and which field, and
in which order a reader of the page would meet them.
"""

from __future__ import annotations

import json
from typing import Any

from vipps_pipeline.api.currencies import ISO_4217
from vipps_pipeline.api.errors import BadReport
from vipps_pipeline.api.fields import KNOWN, REQUIRED_FIELDS
from vipps_pipeline.api.money import INT64

_COLUMN_KEYS = (
    "psp",
    "time",
    "type",
    "ref",
    "cur",
    "amt",
    "bb",
    "ba",
    "rh",
    "name",
    "phone",
    "msg",
    "extra",
)


def same_ledger(value: Any, ledger_id: str) -> bool:
    """An entry's own ``ledgerId`` (not in the documented entry, but sent by some answers) must
    be the ledger asked for: a number or a string of the same digits."""
    return type(value) in (str, int) and str(value) == ledger_id


def _money(ctx: tuple[str, str, str], i: int, field: str, value: Any) -> int:
    if type(value) is not int:  # bool, float and str amounts are all refused
        raise BadReport.at(
            ctx,
            f"entry {i}: field {field!r} must be an integer in minor units, "
            f"got {type(value).__name__} {value!r}",
        )
    if not INT64[0] <= value <= INT64[1]:
        raise BadReport.at(ctx, f"entry {i}: field {field!r} is outside the int64 range")
    return value


def _string_or_absent(
    ctx: tuple[str, str, str], i: int, field: str, value: Any, required: bool
) -> str | None:
    """A string field's value; None only when the field may be absent (or null)."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadReport.at(ctx, f"entry {i}: field {field!r} must be a string, got {value!r}")
    return value


def _check_identity(e: Any, pos: int, ctx: tuple[str, str, str]) -> None:
    """What makes an object an entry of the ledger-day asked for, and bookable at all."""
    if not isinstance(e, dict):
        raise BadReport.at(ctx, f"entry {pos}: must be an object, got {type(e).__name__}")
    for field in REQUIRED_FIELDS:
        if field not in e:
            raise BadReport.at(ctx, f"entry {pos}: required field {field!r} is missing")
    if "ledgerId" in e and not same_ledger(e["ledgerId"], ctx[0]):
        raise BadReport.at(
            ctx,
            f"entry {pos}: field 'ledgerId' is {e['ledgerId']!r}, but ledger {ctx[0]} "
            "was requested",
        )
    want_date = ctx[2]
    if e.get("ledgerDate", want_date) != want_date:
        raise BadReport.at(
            ctx,
            f"entry {pos}: field 'ledgerDate' is {e['ledgerDate']!r}, "
            f"expected the requested date {want_date}",
        )
    currency = e["currency"]
    if type(currency) is not str or currency not in ISO_4217:  # a list is not hashable
        raise BadReport.at(
            ctx, f"entry {pos}: field 'currency' {currency!r} is not an ISO 4217 code"
        )


def _fill(
    cols: dict[str, list[Any]],
    i: int,
    e: dict[str, Any],
    ctx: tuple[str, str, str],
    pos: int,
    include_gdpr: bool,
) -> None:
    """Row ``i`` of the columns, each field checked for its type on the way."""
    entry_type = _string_or_absent(ctx, pos, "entryType", e["entryType"], True)
    if not entry_type:
        raise BadReport.at(ctx, f"entry {pos}: field 'entryType' is empty")
    cols["type"][i] = entry_type
    cols["cur"][i] = e["currency"]
    cols["amt"][i] = _money(ctx, pos, "amount", e["amount"])
    cols["bb"][i] = _money(ctx, pos, "balanceBefore", e["balanceBefore"])
    cols["ba"][i] = _money(ctx, pos, "balanceAfter", e["balanceAfter"])
    cols["time"][i] = _string_or_absent(ctx, pos, "time", e.get("time"), False)
    cols["psp"][i] = _string_or_absent(ctx, pos, "pspReference", e.get("pspReference"), False)
    cols["ref"][i] = _string_or_absent(ctx, pos, "reference", e.get("reference"), False)
    cols["rh"][i] = _string_or_absent(ctx, pos, "recipientHandle", e.get("recipientHandle"), False)
    if include_gdpr:
        cols["name"][i] = _string_or_absent(ctx, pos, "name", e.get("name"), False)
        cols["phone"][i] = _string_or_absent(
            ctx, pos, "maskedPhoneNo", e.get("maskedPhoneNo"), False
        )
        cols["msg"][i] = _string_or_absent(ctx, pos, "message", e.get("message"), False)
    if len(e) > 13 or not KNOWN.issuperset(e):
        extra = {k: v for k, v in e.items() if k not in KNOWN}
        if extra:
            cols["extra"][i] = json.dumps(extra, sort_keys=True, ensure_ascii=False)


def columns_checked(
    items: list, ctx: tuple[str, str, str], seq_start: int, include_gdpr: bool
) -> dict[str, list[Any]]:
    """Entry by entry, field by field: raises BadReport naming the first bad field."""
    n = len(items)
    cols: dict[str, list[Any]] = {k: [None] * n for k in _COLUMN_KEYS}
    for i, e in enumerate(items):
        pos = seq_start + i
        _check_identity(e, pos, ctx)
        _fill(cols, i, e, ctx, pos, include_gdpr)
    return cols
