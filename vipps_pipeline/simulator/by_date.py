"""The by-date report endpoint: one ledger date's entries, page by page behind a cursor.

An open date answers what is visible now with ``tryLater: true``; a closed date answers all
of it. Benchmarks can have the pages of large closed days rendered once and served as bytes.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from vipps_pipeline.simulator.days import Day
from vipps_pipeline.simulator.fault_injection import FaultInjection, corrupt
from vipps_pipeline.simulator.faults import Faults
from vipps_pipeline.simulator.model import NoSuchLedger, World
from vipps_pipeline.simulator.wire import (
    RawBody,
    Reply,
    decode_cursor,
    encode_cursor,
    problem,
    wants_gdpr,
    without_gdpr,
)

RenderedKey = tuple[str, str, str, int, bool]
"""(ledger, topic, date, offset, GDPR) of a prerendered page."""


class ByDateReports(FaultInjection):
    """The by-date report, mixed into :class:`~vipps_pipeline.simulator.Simulator`."""

    world: World
    clock: Callable[[], datetime]
    counters: Counter[str]
    faults: Faults
    _polls: Counter[tuple[str, str, str]]
    _rendered: dict[RenderedKey, tuple[RawBody, int]] | None
    _lock: threading.Lock

    def report(
        self,
        ledger_id: str,
        topic: str,
        raw_date: str,
        query: dict[str, list[str]],
        token: str,
        path: str,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        d = self._report_date(ledger_id, topic, raw_date, path)
        cursor_raw = query.get("cursor", [""])[0]
        offset = self._report_offset(ledger_id, topic, raw_date, cursor_raw, path)
        self.page_faults(token)
        gdpr = wants_gdpr(query)
        size = self.faults.page_size
        key = (ledger_id, topic, raw_date, offset, gdpr)
        rendered = self._rendered.get(key) if self._rendered else None
        if rendered is not None and (ledger_id, d) not in self.faults.corrupt:
            self.counters["entries_served"] += rendered[1]
            return rendered[0], {"Vipps-Feed-Page-Size": str(size)}
        try:
            day, visible, try_later = self.world.served(ledger_id, topic, d, self.clock())
        except NoSuchLedger as exc:
            self.counters["404_no_such_ledger"] += 1
            raise problem(404, "Not Found", str(exc), path) from None
        except LookupError:
            self.counters["404"] += 1
            raise Reply(404, b"", "text/plain") from None
        body = self._page(day, visible, try_later, offset, gdpr, (ledger_id, topic, raw_date))
        self.counters["entries_served"] += len(body["items"])
        kind = self.faults.corrupt.get((ledger_id, d))
        if kind:
            body = corrupt(body, kind, cursor_raw, {"l": ledger_id, "t": topic, "d": raw_date})
        return body, {"Vipps-Feed-Page-Size": str(size)}

    def _report_date(self, ledger_id: str, topic: str, raw_date: str, path: str) -> date:
        """The requested date, once the path is known valid and the keys may read it."""
        if topic not in {"funds", "fees"}:
            raise problem(400, "Bad Request", f"topic must be funds or fees, got {topic!r}", path)
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", raw_date):
            raise problem(400, "Bad Request", "ledgerDate must be YYYY-MM-DD", path)
        try:
            d = date.fromisoformat(raw_date)
        except ValueError:
            raise problem(400, "Bad Request", "ledgerDate is not a date", path) from None
        if ledger_id in self.faults.forbidden_ledgers:
            raise problem(403, "Forbidden", f"Not authorized for ledger {ledger_id}", path)
        return d

    def _report_offset(
        self, ledger_id: str, topic: str, raw_date: str, cursor_raw: str, path: str
    ) -> int:
        """Where the page starts: the cursor's offset, or 0 for a first page (which answers
        404 while the ``not_ready_polls`` fault says the report is not ready yet)."""
        if cursor_raw:
            try:
                cursor = decode_cursor(cursor_raw)
                if (cursor["l"], cursor["t"], cursor["d"]) != (ledger_id, topic, raw_date):
                    raise ValueError("cursor belongs to another report")
                return int(cursor["o"])
            except (ValueError, KeyError, TypeError) as exc:
                raise problem(400, "Bad Request", f"Invalid cursor: {exc}", path) from None
        key = (ledger_id, topic, raw_date)
        with self._lock:
            self._polls[key] += 1
            polls = self._polls[key]
        if polls <= self.faults.not_ready_polls:
            self.counters["404_not_ready"] += 1
            raise Reply(404, b"", "text/plain")
        return 0

    def _page(
        self,
        day: Day,
        visible: int,
        try_later: bool,
        offset: int,
        gdpr: bool,
        ids: tuple[str, str, str],
    ) -> dict[str, Any]:
        """One by-date page from ``offset``, as the API answers it."""
        size = self.faults.page_size
        items = day.page(offset, min(offset + size, visible)) if offset < visible else []
        nxt = offset + len(items)
        has_more = nxt < visible
        if not has_more and self.faults.trailing_empty_page and items:
            has_more = True  # the next page comes back empty, as the real API sometimes does
        if not gdpr:
            items = without_gdpr(items)
        body: dict[str, Any] = {"hasMore": has_more, "tryLater": try_later, "items": items}
        if has_more:
            body["cursor"] = encode_cursor({"l": ids[0], "t": ids[1], "d": ids[2], "o": nxt})
        return body

    def prerender(self, gdpr: bool = False) -> int:
        """Render every page of every large day that is closed now, both topics, and keep
        them as bytes (needs ``prerender=True``). Returns the number of entries rendered."""
        if self._rendered is None:
            raise RuntimeError("this simulator was not created with prerender=True")
        total = 0
        for ledger_id, d in sorted(self.world.large_days):
            for topic in ("funds", "fees"):
                try:
                    day, visible, try_later = self.world.served(ledger_id, topic, d, self.clock())
                except LookupError:
                    continue
                if try_later:
                    continue  # an open day changes with the clock: never stored
                ids = (ledger_id, topic, d.isoformat())
                offset, more = 0, True
                while more:
                    body = self._page(day, visible, False, offset, gdpr, ids)
                    n = len(body["items"])
                    raw = RawBody(json.dumps(body).encode())
                    self._rendered[(*ids, offset, gdpr)] = (raw, n)
                    offset, more, total = offset + n, body["hasMore"], total + n
        return total
