"""Turn one page of report entries into a validated Arrow record batch.

The page is checked field by field before anything is written: a malformed entry stops the
ledger-day with an error naming ledger, topic, date, entry and field, and nothing is stored
for that day. Vendor-side accounting breaks (a balance that does not add up) are NOT rejected
here: they are real data, stored as served and reported by the reconciliation.

Three paths give the same batch, and the first two only accept a page the last one accepts:
- entries already read into Arrow by :mod:`vipps_pipeline.api.pagejson` (the client's large pages)
  are checked on whole columns, with no Python object per value;
- a list of Python entries is converted to Arrow in one call, then checked on whole columns;
- when anything is off, the entry-by-entry path finds and names the first bad entry and field.
A large day is a thousand pages of a thousand entries: per-value Python was most of its cost.
"""

from __future__ import annotations

import json
import re
from datetime import date
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.api.currencies import ISO_4217
from vipps_pipeline.store.schemas import REPORT_SCHEMA

__all__ = [
    "ISO_4217",
    "KNOWN_FIELDS",
    "REQUIRED_FIELDS",
    "BadReport",
    "DuplicateKey",
    "Entries",
    "entry_type",
    "money_totals",
    "no_duplicate_keys",
    "page_to_batch",
    "pages_to_batch",
]

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


class DuplicateKey(ValueError):
    """A JSON object names the same key twice: decoders keep the last one silently, so
    ``"tryLater": true, "tryLater": false`` would read as a final day and ``"amount": 100,
    "amount": 999`` as 999."""


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses a repeated key instead of letting the last one win."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"duplicated key {key!r} in a JSON object")
            seen.add(key)
    return out


def _same_ledger(value: Any, ledger_id: str) -> bool:
    """An entry's own ``ledgerId`` (not in the documented entry, but sent by some answers) must
    be the ledger asked for: a number or a string of the same digits."""
    return type(value) in (str, int) and str(value) == ledger_id


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
        if "ledgerId" in e and not _same_ledger(e["ledgerId"], ctx[0]):
            raise _fail(
                ctx,
                f"entry {pos}: field 'ledgerId' is {e['ledgerId']!r}, but ledger {ctx[0]} "
                "was requested",
            )
        if e.get("ledgerDate", want_date) != want_date:
            raise _fail(
                ctx,
                f"entry {pos}: field 'ledgerDate' is {e['ledgerDate']!r}, "
                f"expected the requested date {want_date}",
            )
        currency = e["currency"]
        if type(currency) is not str or currency not in ISO_4217:  # a list is not hashable
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


_MONEY = ("amount", "balanceBefore", "balanceAfter")
_ENTRY_FIELDS = [
    pa.field(name, pa.int64() if name in _MONEY else pa.string())
    for name in KNOWN_FIELDS
    if name not in ("name", "maskedPhoneNo", "message")
]
_ENTRY = pa.struct(_ENTRY_FIELDS)
_ENTRY_GDPR = pa.struct([*_ENTRY_FIELDS, *(pa.field(k, pa.string()) for k in KNOWN_FIELDS[-3:])])
_GET_MONEY = itemgetter(*_MONEY)
_ISO_CODES = pa.array(sorted(ISO_4217), pa.string())
_COLUMN = {  # column key of both paths: (report field, Arrow type)
    "psp": ("pspReference", pa.string()),
    "time": ("time", pa.string()),
    "type": ("entryType", pa.string()),
    "ref": ("reference", pa.string()),
    "cur": ("currency", pa.string()),
    "amt": ("amount", pa.int64()),
    "bb": ("balanceBefore", pa.int64()),
    "ba": ("balanceAfter", pa.int64()),
    "rh": ("recipientHandle", pa.string()),
    "name": ("name", pa.string()),
    "phone": ("maskedPhoneNo", pa.string()),
    "msg": ("message", pa.string()),
}


def _json_or_none(value: dict[str, Any]) -> str | None:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else None


def entry_type(include_gdpr: bool) -> pa.StructType:
    """The Arrow type of one entry (the GDPR fields only when they are asked for)."""
    return _ENTRY_GDPR if include_gdpr else _ENTRY


class Entries:
    """A page's items read straight into Arrow (:mod:`vipps_pipeline.api.pagejson`): a struct array
    of :func:`entry_type`, whose reader already refused every value of the wrong type, every
    unknown field and every null entry, and in which a null ``ledgerDate`` is a missing one.
    ``python()`` decodes the page's body again with the standard library, for the
    entry-by-entry path."""

    __slots__ = ("_body", "array", "include_gdpr")

    def __init__(self, array: pa.StructArray, include_gdpr: bool, body: bytes) -> None:
        self.array, self.include_gdpr, self._body = array, include_gdpr, body

    def __len__(self) -> int:
        return len(self.array)

    def python(self) -> Any:
        return json.loads(self._body, object_pairs_hook=no_duplicate_keys)["items"]


def _struct_columns(entries: pa.StructArray, want_date: str) -> dict[str, pa.Array] | None:
    """The columns of entries already typed by Arrow, after the checks on whole columns that
    typing does not make; None when one fails. A null ``ledgerDate`` must mean a missing one."""
    field = dict(zip(entries.type.names, entries.flatten(), strict=True))
    if (
        entries.null_count
        or any(field[k].null_count for k in REQUIRED_FIELDS)  # missing or null: both refused
        or not pc.all(pc.is_in(field["currency"], value_set=_ISO_CODES)).as_py()
        or pc.any(pc.equal(field["entryType"], "")).as_py()
        or not pc.all(pc.equal(field["ledgerDate"], want_date), min_count=0).as_py()
    ):
        return None
    n = len(entries)
    absent = pa.nulls(n, pa.string())  # the GDPR fields when they were not asked for
    cols = {k: field.get(name, absent) for k, (name, _) in _COLUMN.items()}
    return {**cols, "extra": absent}


def _columns_fast(
    items: list, want_date: str, include_gdpr: bool, ledger_id: str
) -> dict[str, pa.Array] | None:
    """The columns of a page of Python entries, every check made on whole columns; None when
    any check fails (or the page is empty), so the entry-by-entry path can name the culprit.

    One ``pa.array`` call converts every entry (Arrow refuses a missing money field, a
    number beyond int64 and anything but a string where a string belongs); the checks Arrow
    cannot make run over whole columns: money must be ``int`` in Python (Arrow would take a
    bool as 1 and truncate 499.5 to 499), an explicit null is not a missing field. The
    entries come from a JSON decoder, so a string field never holds ``bytes``.
    """
    if not items or set(map(type, items)) != {dict}:
        return None
    try:
        if set(map(type, chain.from_iterable(map(_GET_MONEY, items)))) != {int}:
            return None
        entries = pa.array(items, entry_type(include_gdpr))
    except (KeyError, OverflowError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    # ledgerDate may be missing, but an explicit null is not the requested date
    if None in map(dict.get, items, repeat("ledgerDate"), repeat(0)):
        return None
    cols = _struct_columns(entries, want_date)
    if cols is not None and not _KNOWN.issuperset(set().union(*items)):
        if any("ledgerId" in e and not _same_ledger(e["ledgerId"], ledger_id) for e in items):
            return None
        more = ({k: v for k, v in e.items() if k not in _KNOWN} for e in items)
        cols["extra"] = pa.array(map(_json_or_none, more), pa.string(), size=len(items))
    return cols


def page_to_batch(
    items: Any,
    *,
    ledger_id: str,
    topic: str,
    ledger_date: date,
    seq_start: int,
    include_gdpr: bool,
) -> pa.RecordBatch:
    """Validate ``items`` (the page's ``items`` value: a list, or :class:`Entries`) and build a
    batch in REPORT_SCHEMA."""
    ctx = (ledger_id, topic, ledger_date.isoformat())
    cols = None
    if isinstance(items, Entries):
        if items.include_gdpr == include_gdpr:
            cols = _struct_columns(items.array, ctx[2])
        if cols is None:  # the entry-by-entry path names the entry and field
            items = items.python()
    if cols is None:
        if not isinstance(items, list):
            raise _fail(ctx, f"'items' must be a list, got {type(items).__name__}")
        cols = _columns_fast(items, ctx[2], include_gdpr, ctx[0])
    if cols is None:
        checked = _columns_checked(items, ctx, seq_start, include_gdpr)
        cols = {k: pa.array(checked[k], t) for k, (_, t) in _COLUMN.items()}
        cols["extra"] = pa.array(checked["extra"], pa.string())
    return _assemble(cols, ctx, ledger_date, seq_start)


def pages_to_batch(
    pages: list[Entries],
    *,
    ledger_id: str,
    topic: str,
    ledger_date: date,
    seq_start: int,
    include_gdpr: bool,
) -> list[pa.RecordBatch]:
    """Consecutive pages read by Arrow (``seq_start`` is the first one's), checked together
    on whole columns: one batch, for a fraction of the per-page cost. When a check fails, page
    by page through :func:`page_to_batch`, which names the first bad entry and field."""
    ctx = (ledger_id, topic, ledger_date.isoformat())
    if pages and all(p.include_gdpr == include_gdpr for p in pages):
        cols = _struct_columns(pa.concat_arrays([p.array for p in pages]), ctx[2])
        if cols is not None:
            return [_assemble(cols, ctx, ledger_date, seq_start)]
    batches = []
    for page in pages:
        batches.append(
            page_to_batch(
                page,
                ledger_id=ledger_id,
                topic=topic,
                ledger_date=ledger_date,
                seq_start=seq_start,
                include_gdpr=include_gdpr,
            )
        )
        seq_start += batches[-1].num_rows
    return batches


_SAFE = float(2**62)  # float sums carry rounding: below this the exact sum surely fits int64


def money_totals(amounts: pa.Array | pa.ChunkedArray) -> tuple[int, int]:
    """(sum, sum of absolute values) of an int64 column, exactly: Arrow's and pandas' sums wrap
    around at 2**63, so two entries of 2**62 would sum to -2**63. While the absolute sum fits
    in int64 every partial sum does too (per type, per day, running), so pandas sums of these
    rows stay exact. The float sum decides at once in every real case; only a suspect column
    is summed again in Python integers."""
    if len(amounts) == 0:
        return 0, 0
    rough = pc.sum(pc.abs(pc.cast(amounts, pa.float64(), safe=False))).as_py() or 0.0
    if rough < _SAFE:
        return int(pc.sum(amounts).as_py() or 0), int(pc.sum(pc.abs(amounts)).as_py() or 0)
    values = [v for v in amounts.to_pylist() if v is not None]
    return sum(values), sum(map(abs, values))


def _check_money(cols: dict[str, pa.Array], ctx: tuple[str, str, str], seq_start: int) -> None:
    """No sum of this page's money may leave int64 (see :func:`money_totals`), and no row's
    ``balanceBefore + amount``: wrapped around, a wrong balance would pass the checks."""
    _, absolute = money_totals(cols["amt"])
    if absolute > _INT64[1]:
        raise _fail(ctx, "the amounts add up beyond the int64 range (overflow)")
    try:
        pc.add_checked(cols["bb"], cols["amt"])
    except pa.ArrowInvalid:
        wide = [
            i
            for i, (b, a) in enumerate(
                zip(cols["bb"].to_pylist(), cols["amt"].to_pylist(), strict=True)
            )
            if b is not None and a is not None and not _INT64[0] <= b + a <= _INT64[1]
        ]
        raise _fail(
            ctx,
            f"entry {seq_start + wide[0]}: balanceBefore + amount is beyond the int64 range "
            "(overflow)",
        ) from None


def _assemble(
    cols: dict[str, pa.Array], ctx: tuple[str, str, str], ledger_date: date, seq_start: int
) -> pa.RecordBatch:
    _check_money(cols, ctx, seq_start)
    n = len(cols["amt"])
    # int64 first: a day past 2**31 entries fails the cast instead of wrapping around
    seq = pa.array(np.arange(seq_start, seq_start + n, dtype=np.int64)).cast(pa.int32())
    arrays = [
        pa.repeat(pa.scalar(ctx[0], pa.string()), n),
        pa.repeat(pa.scalar(ctx[1], pa.string()), n),
        pa.repeat(pa.scalar(ledger_date, pa.date32()), n),
        seq,
        cols["psp"],
        _times(cols["time"], ctx, seq_start),
        *(cols[k] for k in ("type", "ref", "cur", "amt", "bb", "ba", "rh")),
        *(cols[k] for k in ("name", "phone", "msg", "extra")),
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


def _times(values: pa.Array, ctx: tuple[str, str, str], seq_start: int) -> pa.Array:
    """Column-wise when every time has a form Arrow reads at once (the normal case), then
    value by value, naming the first entry whose time is not a timestamp."""
    target = pa.timestamp("us", tz="UTC")
    try:
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    normal = []
    for i, v in enumerate(values.to_pylist()):
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
