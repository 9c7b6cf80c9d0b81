"""The continuous feed endpoint: every entry of a ledger once, in order, behind one cursor.

Unlike the by-date report it never waits for a date to close: it streams entries as their
time comes, and its cursor says where it stopped (a date and an offset into it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from vipps_pipeline.simulator.fault_injection import FaultInjection
from vipps_pipeline.simulator.faults import Faults
from vipps_pipeline.simulator.ledgers import LedgerSpec
from vipps_pipeline.simulator.model import World
from vipps_pipeline.simulator.wire import (
    decode_cursor,
    encode_cursor,
    problem,
    wants_gdpr,
    without_gdpr,
)


class FeedEndpoint(FaultInjection):
    """The feed, mixed into :class:`~vipps_pipeline.simulator.Simulator`."""

    world: World
    clock: Callable[[], datetime]
    counters: Counter[str]
    faults: Faults

    def feed(
        self, ledger_id: str, topic: str, query: dict[str, list[str]], token: str, path: str
    ) -> dict[str, Any]:
        """The continuous feed: every entry of the ledger once, date by date in report order,
        as soon as its time has come (the by-date report of a closed date holds exactly the
        same entries, in the same order).

        The cursor is always present and never empties; a date is left behind once its window
        has ended and all its entries were served, so open dates (monthly settlement, a
        negative balance) stream like any other. ``tryLater: true`` means caught up: the same
        cursor returns new entries once they appear.
        """
        if topic not in {"funds", "fees"}:
            raise problem(400, "Bad Request", f"topic must be funds or fees, got {topic!r}", path)
        if ledger_id in self.faults.forbidden_ledgers:
            raise problem(403, "Forbidden", f"Not authorized for ledger {ledger_id}", path)
        now = self.clock()
        spec, d, offset = self._feed_position(ledger_id, topic, query, path, now)
        self.page_faults(token)
        f = self.faults
        n = self.counters["feed_pages"] = self.counters["feed_pages"] + 1
        position = {"l": ledger_id, "t": topic, "d": d.isoformat(), "o": offset}
        if f.feed_empty_page_every and n % f.feed_empty_page_every == 0:
            self.counters["feed_empty_pages"] += 1
            return {"cursor": encode_cursor({**position, "n": n}), "tryLater": False, "items": []}
        items, d, offset = self._feed_items(spec, topic, d, offset, now)
        try_later = len(items) < f.page_size
        if try_later and items and f.trailing_empty_page:
            try_later = False  # the client asks once more and gets an empty page
        if not wants_gdpr(query):
            items = without_gdpr(items)
        self.counters["feed_entries_served"] += len(items)
        return {
            "cursor": encode_cursor({**position, "d": d.isoformat(), "o": offset}),
            "tryLater": try_later,
            "items": items,
        }

    def _feed_position(
        self, ledger_id: str, topic: str, query: dict[str, list[str]], path: str, now: datetime
    ) -> tuple[LedgerSpec, date, int]:
        """The ledger and where its feed resumes: the cursor's date and offset, or its start."""
        spec = self.world.ledgers.get(ledger_id)
        if spec is None or not self.world.listed(spec, now):
            self.counters["404_no_such_ledger"] += 1
            raise problem(404, "Not Found", "No such ledgerId", path)
        d, offset = spec.start, 0
        if query.get("cursor", [""])[0]:
            try:
                cursor = decode_cursor(query["cursor"][0])
                if (cursor["l"], cursor["t"]) != (ledger_id, topic):
                    raise ValueError("cursor belongs to another feed")
                d, offset = date.fromisoformat(cursor["d"]), int(cursor["o"])
            except (ValueError, KeyError, TypeError) as exc:
                raise problem(400, "Bad Request", f"Invalid cursor: {exc}", path) from None
        return spec, d, offset

    def _feed_items(
        self, spec: LedgerSpec, topic: str, d: date, offset: int, now: datetime
    ) -> tuple[list[dict[str, Any]], date, int]:
        """Up to a page of entries from (``d``, ``offset``), and where the next page starts."""
        items: list[dict[str, Any]] = []
        size = self.faults.page_size
        while len(items) < size:
            start, end = self.world.window(spec, d)
            if now < start:  # a date that has not begun: the end of the feed for now
                break
            day = self.world.feed_day(spec.ledger_id, topic, d)
            visible = day.visible_count(now)
            take = min(visible, offset + size - len(items))
            if offset < take:
                items += day.page(offset, take)
                offset = take
            if len(items) >= size or offset < len(day) or now < end:
                break  # a full page, or the date may still get entries
            d, offset = d + timedelta(days=1), 0
        return items, d, offset
