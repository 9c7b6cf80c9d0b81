"""Deterministic synthetic settlement ledgers that obey every invariant accountants check.

Every ledger-day is a pure function of (seed, ledger, date, injected data breaks), so a test can
ask the model for the ground truth of any day and compare it with what the pipeline stored.
Balances chain across days without replaying history: each ledger has "zeroing" days (a daily
payout, a month-end payout or fee invoice) after which the next day opens at 0, so at most a
month has to be generated to know an opening balance.

``World`` is the one object the server and the tests hold: the calendar (``dates``), the day's
entries (``activity``), its settlement (``settlement``) and balances (``balances``) are
functions of it, and it adds what depends on the clock and the cache of generated days.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import ClassVar

from vipps_pipeline.simulator import balances, dates, settlement
from vipps_pipeline.simulator.activity import UNKNOWN_ENTRY_TYPE
from vipps_pipeline.simulator.days import Day, LargeDay
from vipps_pipeline.simulator.faults import Faults
from vipps_pipeline.simulator.ledgers import DEMO_CREDENTIALS, LEDGERS, LedgerSpec, cloned_ledgers

__all__ = [  # the names importers have always taken from here
    "DEMO_CREDENTIALS",
    "LEDGERS",
    "UNKNOWN_ENTRY_TYPE",
    "LedgerSpec",
    "NoSuchLedger",
    "World",
    "cloned_ledgers",
]

_CACHE_SIZE = 4096
"""Generated days kept: enough for a month of every ledger and the days their openings need."""


class NoSuchLedger(LookupError):
    """The keys cannot see this ledger: the API answers 404 "No such ledgerId"."""


class World:
    """All simulated ledgers, their days, and the clock-dependent view the API serves."""

    shared_history: ClassVar[OrderedDict[tuple, Day] | None] = None
    """Days shared by every World when set (the test suite sets it once per process): a day is
    a pure function of the seed, the ledger's spec, the large days and the data breaks, so a
    suite that builds hundreds of worlds over the same history builds each day once."""
    _shared_lock: ClassVar[threading.RLock] = threading.RLock()

    def __init__(
        self,
        seed: int = 0,
        ledgers: Sequence[LedgerSpec] = LEDGERS,
        faults: Faults | None = None,
        large_days: dict[tuple[str, date], int] | None = None,
        close_lag: timedelta = timedelta(hours=1),
    ) -> None:
        self.seed = seed
        self.ledgers = {s.ledger_id: s for s in ledgers}
        self.faults = faults or Faults()
        self.large_days = dict(large_days or {})
        self.close_lag = close_lag
        self._cache: OrderedDict[tuple, Day] = OrderedDict()
        self._lock = threading.RLock()

    # --- calendar ------------------------------------------------------------------------------
    def window(self, spec: LedgerSpec, d: date) -> tuple[datetime, datetime]:
        return dates.window(spec, d)

    def episode(self, spec: LedgerSpec, d: date) -> tuple[date, date] | None:
        return dates.episode(spec, d)

    def period_end(self, spec: LedgerSpec, d: date) -> date:
        return dates.period_end(spec, d)

    def pays_out(self, spec: LedgerSpec, d: date) -> bool:
        return dates.pays_out(spec, d)

    def ledger_date_of(self, spec: LedgerSpec, t: datetime) -> date:
        return dates.ledger_date_of(spec, t)

    def payout_number(self, spec: LedgerSpec, d: date) -> int:
        return dates.payout_number(spec, d)

    def closes_at(self, spec: LedgerSpec, d: date) -> datetime:
        return self.window(spec, self.period_end(spec, d))[1] + self.close_lag

    def status(self, spec: LedgerSpec, d: date, now: datetime) -> str:
        """'future' (404), 'open' (tryLater) or 'closed'."""
        if now < self.window(spec, d)[0]:
            return "future"
        if (spec.ledger_id, d) in self.faults.open_dates or now < self.closes_at(spec, d):
            return "open"
        return "closed"

    def listed(self, spec: LedgerSpec, now: datetime) -> bool:
        return spec.listed_from is None or now >= spec.listed_from

    # --- balances --------------------------------------------------------------------------------
    def closing_anchor(self, spec: LedgerSpec, topic: str, d: date) -> int | None:
        return settlement.closing_anchor(self, spec, topic, d)

    def opening(self, spec: LedgerSpec, topic: str, d: date) -> int:
        return balances.opening(self, spec, topic, d)

    # --- generation ----------------------------------------------------------------------------
    def day(self, ledger_id: str, topic: str, d: date) -> Day:
        """The complete ledger-day as it will be once closed."""
        spec = self.ledgers[ledger_id]
        if (ledger_id, d) in self.large_days:
            n = self.large_days[(ledger_id, d)]
            return LargeDay(spec, d, topic, n, self.seed, self.window(spec, d))
        shared = World.shared_history
        if shared is None:
            cache, lock, limit = self._cache, self._lock, _CACHE_SIZE
            key: tuple = (ledger_id, topic, d, self.faults.data_breaks())
        else:
            cache, lock, limit = shared, World._shared_lock, 200_000
            large = frozenset(self.large_days.items())
            key = (self.seed, spec, large, topic, d, self.faults.data_breaks())
        with lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        built = balances.build(self, spec, topic, d)
        with lock:
            cache[key] = built
            while len(cache) > limit:
                cache.popitem(last=False)
        return built

    # --- what the API serves -------------------------------------------------------------------
    def served(self, ledger_id: str, topic: str, d: date, now: datetime) -> tuple[Day, int, bool]:
        """(day, number of entries visible now, tryLater). Raises LookupError for a 404:
        :class:`NoSuchLedger` for a ledger these keys cannot see."""
        spec = self.ledgers.get(ledger_id)
        if spec is None or not self.listed(spec, now):
            raise NoSuchLedger("No such ledgerId")
        status = self.status(spec, d, now)
        if status == "future":
            raise LookupError("report not available yet")
        day = self.day(ledger_id, topic, d)
        if status == "closed":
            return day, len(day), False
        return day, day.visible_count(now), True

    def feed_day(self, ledger_id: str, topic: str, d: date) -> Day:
        """The entries of a ledger-day in the order the feed serves them: exactly the by-date
        report's (``day``), unless ``Faults.feed_mismatch`` makes the feed disagree on it."""
        day = self.day(ledger_id, topic, d)
        kind = self.faults.feed_mismatch.get((ledger_id, d))
        if kind is None or topic != "funds" or isinstance(day, LargeDay) or len(day) < 2:
            return day
        entries, times = list(day.entries), list(day.times)
        if kind == "missing":
            del entries[1], times[1]
        elif kind == "order":
            entries[0], entries[1] = entries[1], entries[0]
        else:  # "amount": the first entry moves 100 more than the report says
            e = entries[0]
            entries[0] = {**e, "amount": e["amount"] + 100, "balanceAfter": e["balanceAfter"] + 100}
        return Day(entries, times)
