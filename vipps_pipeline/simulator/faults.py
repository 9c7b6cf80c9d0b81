"""Switches that make the simulator misbehave the way the real service and network do.

Two families: transport faults (404 not-ready, 429, 5xx, revoked tokens, truncated bodies...)
that a correct client must absorb without losing or duplicating a row, and vendor-side data
breaks (a balance jump, a missing fee...) that the reconciliation must report at exactly the
ledger, date and check where they were injected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

LedgerDay = tuple[str, date]

CORRUPTIONS = (
    "invalid_json",
    "items_not_list",
    "missing_amount",
    "missing_balance",
    "amount_string",
    "amount_float",
    "unknown_currency",
    "wrong_ledger_date",
    "cursor_loop",
    "endless_pages",
)
"""Malformed answers the pipeline must refuse with a clear error, storing nothing."""
FEED_MISMATCHES = ("missing", "order", "amount")
"""Ways the feed can disagree with the closed day's report (``Faults.feed_mismatch``)."""


@dataclass
class Faults:
    # --- transport -------------------------------------------------------------------------
    not_ready_polls: int = 0
    """Answer 404 to the first N first-page polls of every report (per ledger, topic, date)."""
    open_dates: set[LedgerDay] = field(default_factory=set)
    """Ledger-days kept open (``tryLater: true``) whatever the clock says."""
    rate_limit_every: int = 0
    """Every Nth API request gets 429 with ``Retry-After``."""
    retry_after_seconds: int = 1
    server_error_every: int = 0
    """Every Nth API request gets a 500 (``errorCode``/``errorMessage``/``contextId``)."""
    revoke_token_every: int = 0
    """Every Nth report or feed page revokes the caller's token first, so it gets a 401."""
    slow_every: int = 0
    """Every Nth report or feed page is answered only after ``slow_seconds`` (timeouts)."""
    slow_seconds: float = 2.0
    truncate_every: int = 0
    """Every Nth report page, and every Nth feed page, is cut off half-way through its body."""
    trailing_empty_page: bool = False
    """End every report with an extra ``hasMore: true`` page followed by an empty page; on the
    feed, the last page with entries says ``tryLater: false`` and the next one is empty."""
    feed_empty_page_every: int = 0
    """Every Nth feed page is empty with ``tryLater: false`` and a new cursor for the same
    position: the feed's cursor can move without data, and the client must go on."""
    page_size: int = 1000
    ledger_list_shape: str = "newest"
    """``reference`` (``ledgers`` with top-level ``salesUnits``), ``openapi`` (``items``, no
    units) or ``newest`` (``items``, each with its own ``salesUnits``, one handle each)."""
    partner_expires_in_string: bool = False
    """Answer the partner token's ``expires_in`` as a string (as the vendor's SDK types say)."""
    canned: dict[str, list[tuple[int, bytes, str]]] = field(default_factory=dict)
    """Answer authenticated GETs of this path with exactly these (status, body, content type),
    one per request in order (the last repeats): the vendor's published example bodies,
    served over HTTP."""
    outage: tuple[datetime, datetime] | None = None
    """Every request in this (simulated-clock) window answers 503: a long outage."""
    ledgers_page_size: int = 2
    forbidden_ledgers: set[str] = field(default_factory=set)
    """Ledgers whose reports answer 403 with a problem+json body (keys lack access)."""
    corrupt: dict[LedgerDay, str] = field(default_factory=dict)
    """Serve a malformed report for that ledger-day: one of CORRUPTIONS (both topics)."""
    token_ttl_seconds: int | None = None
    """Override the token lifetime (seconds) to force refreshes."""
    # --- vendor-side data breaks ----------------------------------------------------------------
    balance_jump_in_day: set[LedgerDay] = field(default_factory=set)
    """Funds: from the middle of the day on, balances jump by a fixed amount (chain breaks)."""
    balance_jump_between_days: set[LedgerDay] = field(default_factory=set)
    """Funds: the whole day is shifted, so its opening differs from the previous closing."""
    missing_fee: set[LedgerDay] = field(default_factory=set)
    """The first capture of that funds date never gets its capture-fee."""
    fees_retained_mismatch: set[LedgerDay] = field(default_factory=set)
    """Funds ``fees-retained`` differs from minus the fees-ledger ``fees-retained`` by 100."""
    payout_not_last: set[LedgerDay] = field(default_factory=set)
    """The payout is booked before the day's ``fees-retained`` row."""
    unknown_entry_type: bool = False
    """Every seventh funds day gets an entry type the vendor does not document
    (``UNKNOWN_ENTRY_TYPE``), as the vendor may add one without notice. Off by default: the
    normal world sends only documented types, so its journal has nothing in suspense."""
    feed_mismatch: dict[LedgerDay, str] = field(default_factory=dict)
    """The feed serves that funds ledger-day differently from its by-date report: one of
    FEED_MISMATCHES (an entry missing, two entries swapped, an amount and balance off)."""

    def data_breaks(self) -> tuple[frozenset[LedgerDay] | bool, ...]:
        """A hashable snapshot of the data breaks, used to key generated-day caches."""
        return (
            frozenset(self.balance_jump_in_day),
            frozenset(self.balance_jump_between_days),
            frozenset(self.missing_fee),
            frozenset(self.fees_retained_mismatch),
            frozenset(self.payout_not_last),
            self.unknown_entry_type,
        )

    @classmethod
    def all_transport_faults(cls, page_size: int = 7) -> Faults:
        """Every transport fault at once, at rates a two-week run hits many times."""
        return cls(
            not_ready_polls=1,
            rate_limit_every=11,
            retry_after_seconds=1,
            server_error_every=13,
            revoke_token_every=17,
            truncate_every=19,
            trailing_empty_page=True,
            feed_empty_page_every=23,
            page_size=page_size,
            ledger_list_shape="openapi",
            ledgers_page_size=1,
        )
