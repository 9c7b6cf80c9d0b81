"""By-date paging: one ledger-day's report, page by page, or :class:`NotReady`.

The walk is where a day that is still open could pass for a final one, so every page is
checked before it is handed on: ``tryLater`` and 404 mean not ready (never an empty day), a
flag that is not a JSON boolean is refused rather than guessed, and a repeating cursor, too
many pages or too many entries end the walk instead of running away.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import date
from typing import Any, NoReturn

import requests

from vipps_pipeline.api.errors import BadReport, NotReady
from vipps_pipeline.api.pagejson import Entries
from vipps_pipeline.api.session import api_message
from vipps_pipeline.settings import ApiSettings

Fetched = tuple[requests.Response, Any]
"""An answer and its decoded body (None for an answer that is not a 200)."""
Get = Callable[[dict[str, str], Callable[[requests.Response], None]], Fetched]
"""GET the day's path with these query parameters, calling back once its body has arrived."""
RaiseFor = Callable[[requests.Response, str], NoReturn]


class ReportPage:
    """One by-date page: ``items`` as the standard library decodes them, and ``arrow`` the
    same items read straight into Arrow when that reader could (None otherwise). ``items``
    of a page read by Arrow is decoded on first use only: the pipeline never asks for it."""

    def __init__(self, items: Any, page_size: int | None, number: int) -> None:
        self.arrow: Entries | None = items if isinstance(items, Entries) else None
        self._items = items
        self.page_size, self.number = page_size, number

    @property
    def items(self) -> Any:
        if isinstance(self._items, Entries):
            self._items = self._items.python()
        return self._items


def _flag(body: dict[str, Any], name: str, ids: tuple[str, str, date]) -> bool:
    """A JSON boolean, or absent (false). Anything else would be a guess: reading ``"true"`` or
    ``1`` as false could store a day that is still open as final, so it is refused."""
    value = body.get(name, False)
    if not isinstance(value, bool):  # null, "true", 1: a changed type, never a guess
        raise BadReport(
            *ids, f"field {name!r} must be true or false, got {type(value).__name__} {value!r}"
        )
    return value


_HEAD = re.compile(rb'\s*\{\s*"hasMore"\s*:\s*true\s*,\s*"tryLater"\s*:\s*false\s*,')
_TAIL = re.compile(rb',\s*"cursor"\s*:\s*"([^"\\\x00-\x1f]+)"\s*\}\s*\Z')


def plain_cursor(body: bytes) -> str | None:
    """The next page's cursor, read off the raw body without decoding it, when the body says
    so in plain sight: it opens with ``{"hasMore": true, "tryLater": false,`` and its last
    member is ``"cursor": "..."`` without escapes. In JSON those can only be members of the
    page object itself, so this is the cursor the decoded page names; the walk checks that it
    is, and a body that is not JSON after all costs one request, never a wrong page."""
    if not _HEAD.match(body[:256]):
        return None
    found = _TAIL.search(body, max(0, len(body) - 4096))
    try:
        return found.group(1).decode() if found else None
    except UnicodeDecodeError:
        return None


def page_limit(settings: ApiSettings, page_size: int | None) -> int:
    """Pages one ledger-day may take: what VIPPS_MAX_DAY_ENTRIES fills at the API's page
    size, plus the empty trailing page (and one spare), never more than VIPPS_MAX_PAGES.
    Endless pages with fresh cursors end here instead of after 20,000 requests a day."""
    if not page_size:
        return settings.max_pages
    return min(settings.max_pages, -(-settings.max_day_entries // page_size) + 2)


_FIRST = ""
"""The key of the first page among the requests started ahead (a cursor is never empty)."""

FETCH_THREADS = 8
"""Threads a process fetches report pages on, shared by every walk (a walk has two requests
in flight at most): a thread started per walk cost 0.8 ms of a first sync's 30 ms a
ledger-day. Shared, the threads outlive the walks, never more than this many."""
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def fetch_pool() -> ThreadPoolExecutor:
    """The process's fetch threads (a forked child starts its own: threads do not cross a
    fork)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(FETCH_THREADS, "vipps-fetch"))
        return _pool[1]


class DayWalk:
    """One ledger-day's walk over its cursors, on a background thread.

    The walk runs while the caller processes the pages, so the caller's parsing and writing
    overlap with the fetching; it never waits for the caller to wake up (on a busy machine a
    hand-over per page cost a third of a large day's time). The next page is requested the
    moment a page's body has arrived, before that body is decoded, when the body names its next
    cursor in plain sight (:func:`plain_cursor`): fetching one page and decoding the one before
    then run side by side. The walk checks every page as before, and a request started for a
    cursor it does not follow is dropped. At most three pages are held ahead of the caller, so
    memory stays flat. Errors come in order, after the pages before them.

    A sync asks for the first page before the walk's turn (:meth:`start`, see
    :mod:`vipps_pipeline.sync.ahead`), so the request runs while the day before is written.
    A day whose first page is its last (most days of most ledgers) is then walked on the
    caller's thread: no thread hand-over for a page that has already arrived.
    """

    def __init__(
        self, ids: tuple[str, str, date], settings: ApiSettings, get: Get, raise_for: RaiseFor
    ) -> None:
        self.ids, self.settings, self._get, self._raise_for = ids, settings, get, raise_for
        self.where = f"ledger {ids[0]}, {ids[1]}, {ids[2]}"
        self._ready: queue.Queue[ReportPage | BaseException | None] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._ahead: dict[str, Future] = {}  # the next page, requested before this was decoded
        self._lock = threading.Lock()
        self._in_flight: list[Future] = []  # this walk's requests not yet answered

    def _submit(self, cursor: str | None) -> Future:
        """Ask for a page on the fetch threads (with the lock held)."""
        self._in_flight = [f for f in self._in_flight if not f.done()]
        future = fetch_pool().submit(self._fetch, cursor)
        self._in_flight.append(future)
        return future

    def _drop(self) -> list[Future]:
        """Stop the walk's requests: those not started are cancelled; returns the rest."""
        with self._lock:
            self._stop.set()
            self._ahead.clear()
            futures, self._in_flight = self._in_flight, []
        for future in futures:
            future.cancel()
        return futures

    def start(self) -> None:
        """Request the first page now, on the walk's pool; :meth:`pages` takes it up."""
        with self._lock:
            if _FIRST not in self._ahead and not self._stop.is_set():
                self._ahead[_FIRST] = self._submit(None)

    def on_first(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the fetching thread, or now) once the first page asked for by
        :meth:`start` has arrived: the next request may go out without two in flight."""
        with self._lock:
            first = self._ahead.get(_FIRST)
        if first is not None:
            first.add_done_callback(lambda _: callback())

    def close(self) -> None:
        """Drop a walk that was started and will not be walked (its topic stopped): a request
        in flight ends on its own, and its answer is dropped."""
        self._drop()

    def _first_is_last(self) -> bool:
        """Whether the first page, already asked for, is the day's last (waits for it)."""
        with self._lock:
            first = self._ahead.get(_FIRST)
        if first is None:
            return False
        try:
            response, body = first.result()
        except BaseException:  # the walk raises it in order
            return True
        try:  # the walk's own reading of the page (it reads it again, in order)
            _, more = self._follow(response, body, 0, set())
        except Exception:
            return True  # not ready, or refused: raised by the walk without a second page
        return not more

    def pages(self) -> Iterator[ReportPage]:
        """The pages in order; an error raised after the pages before it."""
        if self._first_is_last():
            held: list[ReportPage] = []
            try:
                self._walk(held.append)
            finally:
                self.close()
            yield from held
            return
        thread = threading.Thread(target=self._run, name="vipps-prefetch", daemon=True)
        thread.start()
        try:
            while (item := self._ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:  # also when the caller stops early: let the walk end, then wait for it
            self._stop.set()
            while thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    self._ready.get(timeout=0.05)
            thread.join()

    def _start_next(self, response: requests.Response) -> None:
        cursor = plain_cursor(response.content)
        with self._lock:  # this page may still be waiting to be taken by the walk: two at most
            if (
                cursor
                and cursor not in self._ahead
                and len(self._ahead) < 2
                and not self._stop.is_set()
            ):
                self._ahead[cursor] = self._submit(cursor)

    def _fetch(self, cursor: str | None) -> Fetched:
        params = {"cursor": cursor} if cursor else {}
        if self.settings.include_gdpr:
            params["includeGDPRSensitiveData"] = "true"  # on every page, cursor or not
        return self._get(params, self._start_next)

    def _next(self, cursor: str | None) -> Fetched:
        """The page at ``cursor``: the request already started for it, or a new one."""
        with self._lock:
            started = self._ahead.pop(cursor or _FIRST, None)
            if started is None:
                self._ahead.clear()  # started for cursors the walk does not follow
        return started.result() if started else self._fetch(cursor)

    def _run(self) -> None:
        try:
            self._walk(self._ready.put)
            self._ready.put(None)
        except BaseException as exc:  # handed to the caller, in order
            self._ready.put(exc)
        finally:  # the walk's requests end with it
            wait(self._drop())

    def _walk(self, put: Callable[[ReportPage], None]) -> None:
        ids, settings = self.ids, self.settings
        seen: set[str] = set()
        cursor: str | None = None
        entries = 0
        limit = settings.max_pages  # until the API names its page size
        for number in itertools.count():
            if number >= limit:
                raise BadReport(
                    *ids,
                    f"more than {limit} pages (VIPPS_MAX_PAGES, or VIPPS_MAX_DAY_ENTRIES "
                    "at the API's page size): runaway paging",
                )
            response, body = self._next(cursor)
            cursor, more = self._follow(response, body, number, seen)
            size = response.headers.get("Vipps-Feed-Page-Size")
            page_size = int(size) if size and size.isdigit() and int(size) > 0 else None
            limit = page_limit(settings, page_size)
            items = body.get("items")
            entries += len(items) if isinstance(items, (list, Entries)) else 0
            if entries > settings.max_day_entries:
                raise BadReport(
                    *ids,
                    f"more than {settings.max_day_entries:,} entries "
                    "(VIPPS_MAX_DAY_ENTRIES): runaway paging",
                )
            put(ReportPage(items, page_size, number))
            if not more or self._stop.is_set():
                return

    def _follow(
        self, response: requests.Response, body: Any, number: int, seen: set[str]
    ) -> tuple[Any, bool]:
        """(the page's cursor, whether to follow it), or why the day cannot be stored."""
        ids = self.ids
        if body is None:
            if response.status_code == 404:
                raise NotReady(*ids, "404", api_message(response))
            self._raise_for(response, self.where)
        if not isinstance(body, dict):
            raise BadReport(*ids, "the answer is not a JSON object")
        if _flag(body, "tryLater", ids):
            raise NotReady(*ids, "tryLater", f"{len(body.get('items') or [])} entries so far")
        cursor = body.get("cursor")
        # before November 2023 there was no hasMore and a cursor alone meant "more";
        # following an extra cursor can cost a request, stopping early loses entries
        more = _flag(body, "hasMore", ids) if "hasMore" in body else bool(cursor)
        if more:
            if not isinstance(cursor, str) or not cursor:
                raise BadReport(*ids, "'hasMore' is true but there is no cursor")
            if cursor in seen:
                raise BadReport(*ids, f"the cursor repeats after {number + 1} pages (paging loop)")
            seen.add(cursor)
        return cursor, more
