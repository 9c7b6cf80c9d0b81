"""What a report entry holds: its fields, which of them are required, and their Arrow types.

One table for every reader of a page (Arrow's JSON reader, the whole-column checks and the
entry-by-entry checks), so the three can never disagree on what a field is.
"""

from __future__ import annotations

import pyarrow as pa

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
KNOWN = frozenset(KNOWN_FIELDS)
REQUIRED_FIELDS = ("amount", "balanceBefore", "balanceAfter", "entryType", "currency")
"""Without these an entry cannot be booked. ``ledgerDate`` may be missing (the vendor's own
by-date example has none: the requested date is meant) and ``time`` may be missing or null
(older data lacks some metadata; no rule reads it)."""
MONEY_FIELDS = ("amount", "balanceBefore", "balanceAfter")

_ENTRY_FIELDS = [
    pa.field(name, pa.int64() if name in MONEY_FIELDS else pa.string())
    for name in KNOWN_FIELDS
    if name not in ("name", "maskedPhoneNo", "message")
]
_ENTRY = pa.struct(_ENTRY_FIELDS)
_ENTRY_GDPR = pa.struct([*_ENTRY_FIELDS, *(pa.field(k, pa.string()) for k in KNOWN_FIELDS[-3:])])

ENTRY_COLUMNS = {  # column key of every path: (report field, Arrow type)
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


def entry_type(include_gdpr: bool) -> pa.StructType:
    """The Arrow type of one entry (the GDPR fields only when they are asked for)."""
    return _ENTRY_GDPR if include_gdpr else _ENTRY
