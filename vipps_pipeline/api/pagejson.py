"""Decode the API's JSON: strictly (no repeated key), and report pages straight into Arrow.

A large day is a thousand pages of a thousand entries. Decoding them into Python dicts and
converting those to Arrow was most of the pipeline's cost, and all of it held the GIL. Arrow's
JSON reader does both in C++ with the GIL released, so the client's fetching threads read the
next page while the main thread checks and stores this one.

The reader types every value against the entry's schema and refuses what the standard library
would decode to the wrong Python type: a string, float, bool or out-of-range number where money
belongs, a non-string where a string belongs, an unknown field, a repeated key, malformed JSON.
What it cannot tell apart is left to the caller (``None``), which decodes the body with the
standard library and checks it entry by entry, exactly as before; the parser's own checks
(currency, date, empty entry type...) then run on the Arrow columns.
"""

from __future__ import annotations

import codecs
import json
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.json as pj

from vipps_pipeline.api.errors import DuplicateKey
from vipps_pipeline.api.fields import entry_type

_FLAGS = ("hasMore", "tryLater")


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


def strict_json(text: str | bytes) -> Any:
    """JSON as the API must send it: a repeated key is refused (:class:`DuplicateKey`)."""
    return json.loads(text, object_pairs_hook=no_duplicate_keys)


class Entries:
    """A page's items read straight into Arrow (:func:`read_report_page`): a struct array of
    :func:`~vipps_pipeline.api.fields.entry_type`, whose reader already refused every value of
    the wrong type, every unknown field and every null entry, and in which a null
    ``ledgerDate`` is a missing one. ``python()`` decodes the page's body again with the
    standard library, for the entry-by-entry path."""

    __slots__ = ("_body", "array", "include_gdpr")

    def __init__(self, array: pa.StructArray, include_gdpr: bool, body: bytes) -> None:
        self.array, self.include_gdpr, self._body = array, include_gdpr, body

    def __len__(self) -> int:
        return len(self.array)

    def python(self) -> Any:
        return json.loads(self._body, object_pairs_hook=no_duplicate_keys)["items"]


@cache
def _parse_options(include_gdpr: bool) -> pj.ParseOptions:
    schema = pa.schema(
        [
            pa.field("hasMore", pa.bool_()),
            pa.field("tryLater", pa.bool_()),
            pa.field("cursor", pa.string()),
            pa.field("items", pa.list_(entry_type(include_gdpr))),
        ]
    )
    return pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")


def _utf8(body: bytes) -> bool:
    """Arrow copies string bytes as they are; requests would replace invalid UTF-8."""
    if body.isascii():
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not body.startswith(codecs.BOM_UTF8)  # requests refuses a byte-order mark


def read_report_page(body: bytes, include_gdpr: bool) -> dict[str, Any] | None:
    """The page as the standard library would decode it, its items as :class:`Entries`; None
    when Arrow cannot tell, and the caller decodes ``body`` itself.

    None for a body Arrow refuses, for invalid UTF-8 or a byte-order mark, for anything but
    one JSON object, for a null entry, and wherever a null and a missing field mean different
    things and the body might hold the null: a flag (missing is false, null is refused), and
    ``ledgerDate`` (missing is the requested date, null is refused).
    """
    if not body or not _utf8(body):
        return None
    try:
        table = pj.read_json(
            pa.BufferReader(body),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(body) + 1),
            parse_options=_parse_options(include_gdpr),
        )
    except pa.ArrowException:  # malformed, or not what the standard library would read alike
        return None
    if table.num_rows != 1:
        return None
    page: dict[str, Any] = {}
    for name in _FLAGS:
        value = table.column(name)[0].as_py()
        if value is not None:
            page[name] = value
        elif f'"{name}"'.encode() in body:  # perhaps an explicit null
            return None
    page["cursor"] = table.column("cursor")[0].as_py()  # missing and null read alike
    items = table.column("items").combine_chunks()
    if items.null_count:  # missing or null: both are "not a list" to the parser
        page["items"] = None
        return page
    entries = items.flatten()
    dates = entries.field("ledgerDate")
    if entries.null_count or (dates.null_count and b'"ledgerDate"' in body):
        return None
    page["items"] = Entries(entries, include_gdpr, body)
    return page
