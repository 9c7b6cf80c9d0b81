"""Where the simulator misbehaves on purpose: outages, 429s and 5xx, slow and revoked pages,
and corrupted report bodies, each switched on by a field of :class:`Faults`."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from vipps_pipeline.simulator.faults import Faults
from vipps_pipeline.simulator.wire import RawBody, Reply, decode_cursor, encode_cursor


class FaultInjection:
    """Transport faults, mixed into :class:`~vipps_pipeline.simulator.Simulator`."""

    clock: Callable[[], datetime]
    tokens: dict[str, tuple[str, float]]
    counters: Counter[str]
    faults: Faults
    _api_calls: itertools.count[int]
    _pages: itertools.count[int]
    _lock: threading.Lock

    def outage(self) -> None:
        """Every request fails with 503 while the simulated clock is inside an outage."""
        window = self.faults.outage
        if window is not None and window[0] <= self.clock() < window[1]:
            self.counters["503_outage"] += 1
            raise Reply(503, {"statusCode": 503, "message": "Service Unavailable"})

    def transport_faults(self) -> None:
        """429 and 500 at fixed rates, counted over every authenticated API request."""
        n = next(self._api_calls)
        f = self.faults
        if f.rate_limit_every and n % f.rate_limit_every == 0:
            self.counters["429"] += 1
            raise Reply(
                429,
                {"statusCode": 429, "message": "Rate limit is exceeded."},
                headers={"Retry-After": str(f.retry_after_seconds)},
            )
        if f.server_error_every and n % f.server_error_every == 0:
            self.counters["500"] += 1
            raise Reply(
                500,
                {
                    "errorCode": 100001,
                    "errorMessage": "Internal error",
                    "contextId": "123e4567-e89b-12d3-a456-426655440000",
                },
            )

    def page_faults(self, token: str) -> None:
        """The faults of a report or feed page (counted apart from other API calls)."""
        n = next(self._pages)
        f = self.faults
        if f.slow_every and n % f.slow_every == 0:
            self.counters["slow"] += 1
            time.sleep(f.slow_seconds)
        if f.revoke_token_every and n % f.revoke_token_every == 0:
            with self._lock:
                self.tokens.pop(token, None)
            self.counters["revoked"] += 1
            raise Reply(401, {"code": "Unauthorized", "message": "Token revoked"})


def corrupt(body: dict[str, Any], kind: str, cursor: str, ids: dict[str, str]) -> Any:
    """A good page rewritten into the malformed answer ``kind`` (one of ``CORRUPTIONS``)."""
    items = body["items"]
    first = dict(items[0]) if items else {}
    if kind == "invalid_json":
        return RawBody(b'{"hasMore": false, "items": [{"amount": 1,')
    if kind == "items_not_list":
        return {**body, "items": {"0": first}}
    if kind == "cursor_loop":  # the same cursor again and again
        return {**body, "hasMore": True, "cursor": encode_cursor({**ids, "o": 0})}
    if kind == "endless_pages":  # a new cursor every time, never hasMore: false
        offset = (decode_cursor(cursor)["o"] + 1) if cursor else 1
        return {**body, "hasMore": True, "cursor": encode_cursor({**ids, "o": offset})}
    changes = {
        "missing_amount": lambda e: e.pop("amount"),
        "missing_balance": lambda e: e.pop("balanceAfter"),
        "amount_string": lambda e: e.update(amount=str(e["amount"])),
        "amount_float": lambda e: e.update(amount=e["amount"] + 0.5),
        "unknown_currency": lambda e: e.update(currency="XXY"),
        "wrong_ledger_date": lambda e: e.update(ledgerDate="1999-01-01"),
    }
    changes[kind](first)
    return {**body, "items": [first, *items[1:]]}
