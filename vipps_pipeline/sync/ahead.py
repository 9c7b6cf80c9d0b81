"""Walking ahead: the next ledger-day's first page asked for while this one is written.

A sync fetches a ledger's days in order, and most days are one small page per topic: fetched
one after another, the run waited on the API for every page and the API waited on the run for
every write (a sixth of a first sync; ``benchmarks/profile_sync.py``). Here the first page of
the next (day, topic) in the engine's order is requested while the current one is parsed and
written, so the waiting and the writing overlap.

It never asks for a page the walk would not have asked for: a step is started ahead only once
its topic's day before it is stored (the vendor closes a ledger's dates in order, so the walk
goes on to it for sure) and once this walk has stored something at all (credentials and access
proven). A ledger that is open therefore still costs one request per topic, and rejected
credentials one request in all. And it never has two first pages in flight: the next step is
asked for when the current step's first page has arrived, so requests go out one after another
as before, each while the page before it is parsed and written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import date

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.api.reports import DayWalk

Step = tuple[date, str]
"""(ledger date, topic): one by-date walk."""


class Lookahead:
    """The walks of ``order`` (the steps in the order the engine takes them), each started
    one step before it is taken where that is sure to be asked for anyway."""

    def __init__(self, client: ReportClient | None, ledger_id: str, order: Iterable[Step]) -> None:
        self.client, self.ledger_id = client, ledger_id
        self._order: Iterator[Step] = iter(order)
        self._next: Step | None = None  # the order's next step, looked at but not yet met
        self._before: dict[str, date] = {}  # topic -> its last step met in the order
        self._stored: dict[str, date] = {}  # topic -> its last day stored by this walk
        self._stopped: set[str] = set()
        self._started: tuple[Step, DayWalk] | None = None
        self._current: DayWalk | None = None  # the walk taken, until its step is stored
        self._closed = False
        self._lock = threading.RLock()  # a first page's arrival starts the next step

    def _peek(self) -> Step | None:
        if self._next is None:
            self._next = next(self._order, None)
        return self._next

    def _meet(self) -> Step | None:
        """Take the order's next step; it is now "met" (its topic's latest)."""
        step, self._next = self._peek(), None
        if step is not None:
            self._before[step[1]] = step[0]
        return step

    def _sure(self, step: Step) -> bool:
        """Whether the walk will ask for ``step`` whatever the pages before it say."""
        topic = step[1]
        if topic in self._stopped or not self._stored:
            return False
        before = self._before.get(topic)
        return before is None or self._stored.get(topic) == before

    def take(self, day: date, topic: str) -> DayWalk | None:
        """The walk of (day, topic), its first page asked for already, or None (not started:
        the caller walks it itself). Once that page is in, the next step is started if it is
        sure to be asked."""
        with self._lock:
            found = None
            if self._started is not None:
                step, walk = self._started
                self._started = None
                if step == (day, topic):
                    found = walk
                else:  # the engine went past it (cannot happen in order; never leak a walk)
                    walk.close()
            if found is None:
                while (step := self._peek()) is not None and step != (day, topic):
                    self._meet()
                self._meet()
            self._current = found
        if found is not None:
            found.on_first(lambda: self._start_next(after=found))
        return found

    def _start_next(self, after: DayWalk | None = None) -> None:
        """Start the next step if it is sure to be asked (``after``: only while that walk is
        still the current one, its first page in)."""
        with self._lock:
            if after is not None and after is not self._current:
                return
            if self._started is not None or self._closed:
                return
            while (step := self._peek()) is not None and step[1] in self._stopped:
                self._meet()  # never taken: its topic's walk has ended
            if self.client is None or step is None or not self._sure(step):
                return
            self._meet()
            walk = self.client.day_walk(self.ledger_id, step[1], step[0])
            walk.start()
            self._started = (step, walk)

    def stored(self, day: date, topic: str) -> None:
        """The engine stored (day, topic): the next step of the topic is sure to be asked."""
        with self._lock:
            self._stored[topic] = day
            self._current = None
        self._start_next()

    def stop(self, topic: str) -> None:
        """The topic's walk has ended: nothing more is asked for it."""
        with self._lock:
            self._stopped.add(topic)
            self._current = None
            if self._started is not None and self._started[0][1] == topic:
                self._started[1].close()
                self._started = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._started is not None:
                self._started[1].close()
                self._started = None
