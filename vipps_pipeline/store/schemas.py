"""Every Arrow schema the pipeline writes, in one place.

Each file is written and read with an explicit schema rather than one inferred from its rows,
so a day with only nulls in a column, or an empty day, still stores the same types, and readers
(DuckDB, pandas, ``pyarrow.dataset``) see one schema across thousands of files. The
``vipps_pipeline.schema`` metadata names the shape and its version, so a reader can tell a file
of an older shape apart. Money is always in minor units as int64 (balances overflow int32).
"""

from __future__ import annotations

import pyarrow as pa

GDPR_COLUMNS = ("name", "masked_phone_no", "message")
"""Report columns that hold personal data: null unless the GDPR fields are asked for, and
never shown in a preview."""

REPORT_SCHEMA = pa.schema(
    [
        pa.field("ledger_id", pa.string(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("ledger_date", pa.date32(), nullable=False),
        pa.field("seq", pa.int32(), nullable=False),
        pa.field("psp_reference", pa.string()),
        pa.field("time", pa.timestamp("us", tz="UTC")),
        pa.field("entry_type", pa.string(), nullable=False),
        pa.field("reference", pa.string()),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("amount", pa.int64(), nullable=False),
        pa.field("balance_before", pa.int64(), nullable=False),
        pa.field("balance_after", pa.int64(), nullable=False),
        pa.field("recipient_handle", pa.string()),
        pa.field("name", pa.string()),
        pa.field("masked_phone_no", pa.string()),
        pa.field("message", pa.string()),
        pa.field("extra_fields", pa.string()),
    ],
    metadata={"vipps_pipeline.schema": "report/1"},
)
"""One row per report entry. Money in minor units as int64 (balances overflow int32)."""

REPORT_DICTIONARY = [
    "ledger_id",
    "topic",
    "ledger_date",
    "entry_type",
    "currency",
    "recipient_handle",
    "extra_fields",
]
"""Report columns with few distinct values in a day, written dictionary-encoded. The others
(references, times, money, GDPR texts) are mostly distinct: trying a dictionary on them
doubles the writing time and makes a large day's file 70% larger."""

_BY_ENTRY_TYPE = pa.map_(pa.string(), pa.int64())
"""Entry type to the day's number of entries of that type (``count_by_type``) or to the sum of
their amounts in minor units (``total_by_type``): a map, because the vendor adds entry types
without notice and a column per type would change the schema each time."""

STATEMENT_SCHEMA = pa.schema(
    [
        pa.field("ledger_id", pa.string(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("ledger_date", pa.date32(), nullable=False),
        pa.field("currency", pa.string()),
        pa.field("entries", pa.int64(), nullable=False),
        pa.field("opening_balance", pa.int64()),
        pa.field("closing_balance", pa.int64()),
        pa.field("sum_amount", pa.int64(), nullable=False),
        pa.field("count_by_type", _BY_ENTRY_TYPE),
        pa.field("total_by_type", _BY_ENTRY_TYPE),
        pa.field("payout_amount", pa.int64()),
        pa.field("payout_reference", pa.string()),
        pa.field("payout_text", pa.string()),
        pa.field("reserve_kept", pa.int64()),
        pa.field("settlement", pa.string()),
        pa.field("complete", pa.bool_(), nullable=False),
    ],
    metadata={"vipps_pipeline.schema": "statement/2"},
)
"""One row per ledger, date and topic; opening/closing are null on a day with no entries.
``payout_amount`` is the money paid out (positive), ``payout_reference`` the payout's
pspReference (``<ledgerId>-<n>``), ``payout_text`` the text on the bank transfer, and
``reserve_kept`` the balance left on the ledger after the payout (a rolling reserve)."""

FINDING_SCHEMA = pa.schema(
    [
        pa.field("ledger_id", pa.string(), nullable=False),
        pa.field("ledger_date", pa.date32(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("check", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("expected", pa.int64()),
        pa.field("actual", pa.int64()),
        pa.field("detail", pa.string()),
    ],
    metadata={"vipps_pipeline.schema": "finding/2"},
)
"""One row per ledger, date, topic and check; status is pass, fail, unknown or pending.
``expected`` and ``actual`` are amounts in minor units or counts, null where a check has none.
The feed's comparison with the report stores its findings in this shape too."""

JOURNAL_SCHEMA = pa.schema(
    [
        pa.field("ledger_id", pa.string(), nullable=False),
        pa.field("ledger_date", pa.date32(), nullable=False),
        pa.field("voucher", pa.string(), nullable=False),
        pa.field("line", pa.int32(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("entry_type", pa.string(), nullable=False),
        pa.field("account", pa.string(), nullable=False),
        pa.field("account_name", pa.string(), nullable=False),
        pa.field("debit", pa.int64(), nullable=False),
        pa.field("credit", pa.int64(), nullable=False),
        pa.field("currency", pa.string()),
        pa.field("entries", pa.int64(), nullable=False),
        pa.field("psp_reference", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("unmapped", pa.bool_(), nullable=False),
    ],
    metadata={"vipps_pipeline.schema": "journal/1"},
)
"""One row per journal line; debit and credit in minor units, never both non-zero."""

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("ledger_id", pa.string(), nullable=False),
        pa.field("currency", pa.string()),
        pa.field("settles_for_recipient_handles", pa.list_(pa.string())),
        pa.field("owner_id", pa.string()),
        pa.field("owner_scheme", pa.string()),
        pa.field("payout_account_scheme", pa.string()),
        pa.field("payout_account_masked", pa.string()),
        pa.field("sales_units", pa.list_(pa.string())),
        pa.field("listed", pa.bool_(), nullable=False),
        pa.field("first_seen", pa.timestamp("us", tz="UTC")),
        pa.field("last_seen", pa.timestamp("us", tz="UTC")),
    ]
)
"""One row per ledger ever listed; ``listed`` is false once the API stops listing it, and the
payout account is masked to its last four digits."""

FEED_SCHEMA = pa.schema(
    [
        *REPORT_SCHEMA,
        pa.field("feed_position", pa.int64(), nullable=False),
        pa.field("stored_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    metadata={"vipps_pipeline.schema": "feed/1"},
)
"""The report columns, plus the entry's 0-based position in the ledger's feed for its topic and
when it was stored (``stored_at - time`` is how late it arrived)."""

TODAY_SCHEMA = pa.schema(
    [
        pa.field("ledger_id", pa.string(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("ledger_date", pa.date32(), nullable=False),
        pa.field("currency", pa.string()),
        pa.field("entries", pa.int64(), nullable=False),
        pa.field("sum_amount", pa.int64(), nullable=False),
        pa.field("opening_balance", pa.int64()),
        pa.field("running_balance", pa.int64()),
        pa.field("count_by_type", _BY_ENTRY_TYPE),
        pa.field("total_by_type", _BY_ENTRY_TYPE),
        pa.field("first_time", pa.timestamp("us", tz="UTC")),
        pa.field("newest_time", pa.timestamp("us", tz="UTC")),
        pa.field("as_of", pa.timestamp("us", tz="UTC")),
    ],
    metadata={"vipps_pipeline.schema": "today/1"},
)
"""One row per ledger, topic and open date: provisional until the date's report is stored.
``running_balance`` is the balance after the newest entry; ``as_of`` when the feed was last
caught up."""

BANK_LINE_SCHEMA = pa.schema(
    [
        pa.field("line_id", pa.string(), nullable=False),
        pa.field("account", pa.string()),
        pa.field("booking_date", pa.date32(), nullable=False),
        pa.field("value_date", pa.date32()),
        pa.field("amount", pa.int64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("debtor_name", pa.string()),
        pa.field("bank_reference", pa.string()),
        pa.field("statement_to", pa.date32(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("statement_from", pa.date32()),
    ],
    metadata={"vipps_pipeline.schema": "bank_line/1"},
)
"""One row per line of an imported bank statement, stored once whatever the number of files
it appeared in: ``line_id`` is the bank's own reference for the entry when it gave one,
otherwise a digest of the line. ``amount`` is signed (money in is positive), in minor units;
``statement_from`` and ``statement_to`` are the first and last dates the statement it came from
covers (``statement_from`` null when the file did not say: a CSV export, or a line stored before
it was kept; last in the schema so that files stored before it read unchanged)."""

PAYOUT_MATCH_SCHEMA = pa.schema(
    [
        pa.field("ledger_id", pa.string(), nullable=False),
        pa.field("ledger_date", pa.date32(), nullable=False),
        pa.field("psp_reference", pa.string(), nullable=False),
        pa.field("amount", pa.int64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("bank_booking_date", pa.date32()),
        pa.field("bank_amount", pa.int64()),
        pa.field("bank_text", pa.string()),
        pa.field("due_date", pa.date32(), nullable=False),
        pa.field("matched_by", pa.string()),
        pa.field("bank_line_id", pa.string()),
    ],
    metadata={"vipps_pipeline.schema": "payout_match/1"},
)
"""One row per payout: ``amount`` paid out (positive, minor units), its ``status`` (matched,
amount_differs, in_transit, missing, not_covered, aborted), the bank line it was matched to,
``due_date`` (the last banking day it may arrive) and ``matched_by`` (``text`` or ``amount``)."""

BANK_LINE_STATUS_SCHEMA = pa.schema(
    [
        *BANK_LINE_SCHEMA,
        pa.field("status", pa.string(), nullable=False),
        pa.field("psp_reference", pa.string()),
    ],
    metadata={"vipps_pipeline.schema": "bank_line_status/1"},
)
"""Every imported bank line with its ``status``: ``matched`` (to the payout named by
``psp_reference``), ``unexpected`` (looks like a payout from the vendor, matches none) or
``other``."""
