"""Turn one page of report entries into a validated Arrow record batch.

The page is checked field by field before anything is written: a malformed entry stops the
ledger-day with an error naming ledger, topic, date, entry and field, and nothing is stored
for that day. Vendor-side accounting breaks (a balance that does not add up) are NOT rejected
here: they are real data, stored as served and reported by the reconciliation.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.storage import REPORT_SCHEMA

KNOWN_FIELDS = (
    "pspReference",
    "time",
    "ledgerDate",
    "entryType",
    "reference",
    "currency",
    "amount",
    "balanceBefore",
    "balanceAfter",
    "recipientHandle",
    "name",
    "maskedPhoneNo",
    "message",
)
_KNOWN = frozenset(KNOWN_FIELDS)
REQUIRED_FIELDS = ("amount", "balanceBefore", "balanceAfter", "entryType", "currency")
"""Without these an entry cannot be booked. ``ledgerDate`` may be missing (the vendor's own
by-date example has none: the requested date is meant) and ``time`` may be missing or null
(older data lacks some metadata; no rule reads it)."""
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?"
)
_INT64 = (-(2**63), 2**63 - 1)
# ISO 4217 active codes: an unknown code means a broken response, not a new currency.
ISO_4217 = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VED",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)


class BadReport(ValueError):
    """The API answered with something that is not a valid report page."""

    def __init__(self, ledger_id: str, topic: str, ledger_date: date | str, problem: str) -> None:
        self.ledger_id, self.topic, self.ledger_date, self.problem = (
            ledger_id,
            topic,
            str(ledger_date),
            problem,
        )
        super().__init__(f"ledger {ledger_id}, {topic}, {ledger_date}: {problem}")


def _fail(ctx: tuple[str, str, str], problem: str) -> BadReport:
    return BadReport(ctx[0], ctx[1], ctx[2], problem)


def _money(ctx: tuple[str, str, str], i: int, field: str, value: Any) -> int:
    if type(value) is not int:  # bool, float and str amounts are all refused
        raise _fail(
            ctx,
            f"entry {i}: field {field!r} must be an integer in minor units, "
            f"got {type(value).__name__} {value!r}",
        )
    if not _INT64[0] <= value <= _INT64[1]:
        raise _fail(ctx, f"entry {i}: field {field!r} is outside the int64 range")
    return value


def _text(ctx: tuple[str, str, str], i: int, field: str, value: Any, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _fail(ctx, f"entry {i}: field {field!r} must be a string, got {value!r}")
    return value


def _columns_checked(
    items: list, ctx: tuple[str, str, str], seq_start: int, include_gdpr: bool
) -> dict[str, list[Any]]:
    """Entry by entry, field by field: raises BadReport naming the first bad field."""
    n = len(items)
    cols: dict[str, list[Any]] = {
        k: [None] * n
        for k in (
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
    }
    want_date = ctx[2]
    for i, e in enumerate(items):
        pos = seq_start + i
        if not isinstance(e, dict):
            raise _fail(ctx, f"entry {pos}: must be an object, got {type(e).__name__}")
        for field in REQUIRED_FIELDS:
            if field not in e:
                raise _fail(ctx, f"entry {pos}: required field {field!r} is missing")
        if e.get("ledgerDate", want_date) != want_date:
            raise _fail(
                ctx,
                f"entry {pos}: field 'ledgerDate' is {e['ledgerDate']!r}, "
                f"expected the requested date {want_date}",
            )
        currency = e["currency"]
        if currency not in ISO_4217:
            raise _fail(ctx, f"entry {pos}: field 'currency' {currency!r} is not an ISO 4217 code")
        entry_type = _text(ctx, pos, "entryType", e["entryType"], True)
        if not entry_type:
            raise _fail(ctx, f"entry {pos}: field 'entryType' is empty")
        cols["type"][i] = entry_type
        cols["cur"][i] = currency
        cols["amt"][i] = _money(ctx, pos, "amount", e["amount"])
        cols["bb"][i] = _money(ctx, pos, "balanceBefore", e["balanceBefore"])
        cols["ba"][i] = _money(ctx, pos, "balanceAfter", e["balanceAfter"])
        cols["time"][i] = _text(ctx, pos, "time", e.get("time"), False)
        cols["psp"][i] = _text(ctx, pos, "pspReference", e.get("pspReference"), False)
        cols["ref"][i] = _text(ctx, pos, "reference", e.get("reference"), False)
        cols["rh"][i] = _text(ctx, pos, "recipientHandle", e.get("recipientHandle"), False)
        if include_gdpr:
            cols["name"][i] = _text(ctx, pos, "name", e.get("name"), False)
            cols["phone"][i] = _text(ctx, pos, "maskedPhoneNo", e.get("maskedPhoneNo"), False)
            cols["msg"][i] = _text(ctx, pos, "message", e.get("message"), False)
        if len(e) > 13 or not _KNOWN.issuperset(e):
            extra = {k: v for k, v in e.items() if k not in _KNOWN}
            if extra:
                cols["extra"][i] = json.dumps(extra, sort_keys=True, ensure_ascii=False)
    return cols


def _columns_fast(items: list, want_date: str, include_gdpr: bool) -> dict[str, list[Any]] | None:
    """Build the columns with whole-column checks; None when anything is off.

    Comprehensions and set checks cost a fraction of per-field calls; the per-entry path below
    runs only to name the exact entry and field of a bad page.
    """
    try:
        if not all(type(e) is dict for e in items):
            return None
        amt = [e["amount"] for e in items]
        bb = [e["balanceBefore"] for e in items]
        ba = [e["balanceAfter"] for e in items]
        types = [e["entryType"] for e in items]
        cur = [e["currency"] for e in items]
        dates = {e.get("ledgerDate", want_date) for e in items}
    except KeyError:
        return None
    times = [e.get("time") for e in items]
    psp = [e.get("pspReference") for e in items]
    ref = [e.get("reference") for e in items]
    rh = [e.get("recipientHandle") for e in items]
    if items and (
        dates != {want_date}
        or not set(cur) <= ISO_4217
        or not all(type(v) is int for col in (amt, bb, ba) for v in col)
        or min(min(amt), min(bb), min(ba)) < _INT64[0]
        or max(max(amt), max(bb), max(ba)) > _INT64[1]
        or not all(type(v) is str and v for v in types)
        or not all(v is None or type(v) is str for v in times)
        or not all(v is None or type(v) is str for col in (psp, ref, rh) for v in col)
    ):
        return None
    n = len(items)
    gdpr: dict[str, list[Any]] = {"name": [None] * n, "phone": [None] * n, "msg": [None] * n}
    if include_gdpr:
        gdpr = {
            "name": [e.get("name") for e in items],
            "phone": [e.get("maskedPhoneNo") for e in items],
            "msg": [e.get("message") for e in items],
        }
        if not all(v is None or type(v) is str for col in gdpr.values() for v in col):
            return None
    extra: list[str | None] = [None] * n
    for i, e in enumerate(items):
        if len(e) > 13 or not _KNOWN.issuperset(e):
            more = {k: v for k, v in e.items() if k not in _KNOWN}
            extra[i] = json.dumps(more, sort_keys=True, ensure_ascii=False) if more else None
    return {
        "psp": psp,
        "time": times,
        "type": types,
        "ref": ref,
        "cur": cur,
        "amt": amt,
        "bb": bb,
        "ba": ba,
        "rh": rh,
        **gdpr,
        "extra": extra,
    }


def page_to_batch(
    items: Any,
    *,
    ledger_id: str,
    topic: str,
    ledger_date: date,
    seq_start: int,
    include_gdpr: bool,
) -> pa.RecordBatch:
    """Validate ``items`` (the page's ``items`` value) and build a batch in REPORT_SCHEMA."""
    ctx = (ledger_id, topic, ledger_date.isoformat())
    if not isinstance(items, list):
        raise _fail(ctx, f"'items' must be a list, got {type(items).__name__}")
    n = len(items)
    fast = _columns_fast(items, ctx[2], include_gdpr)
    cols = fast if fast is not None else _columns_checked(items, ctx, seq_start, include_gdpr)
    times = _times(cols["time"], ctx, seq_start)
    arrays = [
        pa.array([ledger_id] * n, pa.string()),
        pa.array([topic] * n, pa.string()),
        pa.array([ledger_date] * n, pa.date32()),
        pa.array(range(seq_start, seq_start + n), pa.int32()),
        pa.array(cols["psp"], pa.string()),
        times,
        pa.array(cols["type"], pa.string()),
        pa.array(cols["ref"], pa.string()),
        pa.array(cols["cur"], pa.string()),
        pa.array(cols["amt"], pa.int64()),
        pa.array(cols["bb"], pa.int64()),
        pa.array(cols["ba"], pa.int64()),
        pa.array(cols["rh"], pa.string()),
        pa.array(cols["name"], pa.string()),
        pa.array(cols["phone"], pa.string()),
        pa.array(cols["msg"], pa.string()),
        pa.array(cols["extra"], pa.string()),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=REPORT_SCHEMA)


def _normal_time(value: str) -> str | None:
    """The ISO 8601 forms the API sends, as one form Arrow reads: up to 9 fractional digits
    (cut to microseconds, the precision stored), ``Z``, ``+0200``, ``+02:00`` or no offset
    (the field is documented as UTC). None when the text is not a timestamp."""
    m = _TIME.fullmatch(value.strip())
    if m is None:
        return None
    day, minutes, seconds, fraction, offset = m.groups()
    if offset is None or offset in ("Z", "z"):
        offset = "+00:00"
    elif ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    micros = ((fraction or "") + "000000")[:6]
    return f"{day}T{minutes}{seconds or ':00'}.{micros}{offset}"


def _times(values: list[str | None], ctx: tuple[str, str, str], seq_start: int) -> pa.Array:
    """Column-wise when every time has a form Arrow reads at once (the normal case), then
    value by value, naming the first entry whose time is not a timestamp."""
    target = pa.timestamp("us", tz="UTC")
    raw = pa.array(values, pa.string())
    try:
        return pc.cast(raw, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    normal = []
    for i, v in enumerate(values):
        fixed = None if v is None else _normal_time(v)
        if v is not None and fixed is None:
            raise _fail(
                ctx, f"entry {seq_start + i}: field 'time' {v!r} is not an ISO 8601 timestamp"
            )
        normal.append(fixed)
    try:
        return pc.cast(pa.array(normal, pa.string()), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:  # e.g. month 13
        raise _fail(ctx, f"field 'time' has an impossible date or time: {exc}") from None
