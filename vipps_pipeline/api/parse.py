"""Turn one page of report entries into a validated Arrow record batch.

The page is checked field by field before anything is written: a malformed entry stops the
ledger-day with an error naming ledger, topic, date, entry and field, and nothing is stored
for that day. Vendor-side accounting breaks (a balance that does not add up) are NOT rejected
here: they are real data, stored as served and reported by the reconciliation.

Three paths give the same batch, and the first two only accept a page the last one accepts:
- entries already read into Arrow by :mod:`vipps_pipeline.api.pagejson` (the client's large pages)
  are checked on whole columns, with no Python object per value;
- a list of Python entries is converted to Arrow in one call, then checked on whole columns;
- when anything is off, the entry-by-entry path (:mod:`vipps_pipeline.api.entry_checks`)
  finds and names the first bad entry and field.
A large day is a thousand pages of a thousand entries: per-value Python was most of its cost.
"""

from __future__ import annotations

import json
from datetime import date
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.api.currencies import ISO_4217
from vipps_pipeline.api.entry_checks import columns_checked, same_ledger
from vipps_pipeline.api.errors import BadReport
from vipps_pipeline.api.fields import (
    ENTRY_COLUMNS,
    KNOWN,
    MONEY_FIELDS,
    REQUIRED_FIELDS,
    entry_type,
)
from vipps_pipeline.api.money import check_money
from vipps_pipeline.api.pagejson import Entries
from vipps_pipeline.api.timestamps import times
from vipps_pipeline.store.schemas import REPORT_SCHEMA

_GET_MONEY = itemgetter(*MONEY_FIELDS)
_ISO_CODES = pa.array(sorted(ISO_4217), pa.string())


def _json_or_none(value: dict[str, Any]) -> str | None:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else None


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
    cols = {k: field.get(name, absent) for k, (name, _) in ENTRY_COLUMNS.items()}
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
    if cols is not None and not KNOWN.issuperset(set().union(*items)):
        if any("ledgerId" in e and not same_ledger(e["ledgerId"], ledger_id) for e in items):
            return None
        more = ({k: v for k, v in e.items() if k not in KNOWN} for e in items)
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
            raise BadReport.at(ctx, f"'items' must be a list, got {type(items).__name__}")
        cols = _columns_fast(items, ctx[2], include_gdpr, ctx[0])
    if cols is None:
        checked = columns_checked(items, ctx, seq_start, include_gdpr)
        cols = {k: pa.array(checked[k], t) for k, (_, t) in ENTRY_COLUMNS.items()}
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


def _assemble(
    cols: dict[str, pa.Array], ctx: tuple[str, str, str], ledger_date: date, seq_start: int
) -> pa.RecordBatch:
    check_money(cols, ctx, seq_start)
    n = len(cols["amt"])
    # int64 first: a day past 2**31 entries fails the cast instead of wrapping around
    seq = pa.array(np.arange(seq_start, seq_start + n, dtype=np.int64)).cast(pa.int32())
    arrays = [
        pa.repeat(pa.scalar(ctx[0], pa.string()), n),
        pa.repeat(pa.scalar(ctx[1], pa.string()), n),
        pa.repeat(pa.scalar(ledger_date, pa.date32()), n),
        seq,
        cols["psp"],
        times(cols["time"], ctx, seq_start),
        *(cols[k] for k in ("type", "ref", "cur", "amt", "bb", "ba", "rh")),
        *(cols[k] for k in ("name", "phone", "msg", "extra")),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=REPORT_SCHEMA)
