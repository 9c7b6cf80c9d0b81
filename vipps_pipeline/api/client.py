"""Report API client: the endpoints callers use, tied to one session, one token and one budget.

The pieces live apart: the session and its limits in :mod:`~vipps_pipeline.api.session`,
tokens in :mod:`~vipps_pipeline.api.tokens`, by-date paging in
:mod:`~vipps_pipeline.api.reports`, feed pages in :mod:`~vipps_pipeline.api.feed_pages`. What
stays here is the one GET they all go through: a token refreshed on 401 (once per token), and a
body cut off mid-stream retried (urllib3 has already handed the response over by the time the
body is read). Every exception text goes through :meth:`ReportClient._redact`, so no secret or
token can leak into a log line or Dagster metadata.

Report pages are the pipeline's bulk: their bodies are read in large reads and straight into
Arrow (:mod:`vipps_pipeline.api.pagejson`), on the fetching threads with the GIL released; a page
Arrow cannot read unambiguously, and every other answer, is decoded by requests as before.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NoReturn

import requests

from vipps_pipeline.api.errors import (
    ApiError,
    AuthError,
    BadReport,
    BodyRefused,
    DuplicateKey,
    LedgerForbidden,
)
from vipps_pipeline.api.feed_pages import FeedPage, read_feed_page
from vipps_pipeline.api.pagejson import no_duplicate_keys, read_report_page
from vipps_pipeline.api.reports import DayWalk, ReportPage
from vipps_pipeline.api.session import Transport, api_message, declares_utf8, read_body
from vipps_pipeline.api.tokens import auth_headers, fetch_token
from vipps_pipeline.settings import TOPICS, ApiSettings, validate_ledger_id

log = logging.getLogger(__name__)
BODY_RETRY_BUDGET_SECONDS = 120.0
_CUT_OFF = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)
"""What a network hiccup mid-body raises: retried here, since urllib3 has let go already."""


@dataclass
class LedgerList:
    ledgers: list[dict[str, Any]] = field(default_factory=list)
    sales_units: list[dict[str, Any]] = field(default_factory=list)


def _refused(what: str, report: tuple[str, str, date] | None, problem: str) -> Exception:
    """A bad report page stores nothing for its day (:class:`BadReport`); any other bad answer
    is an :class:`ApiError`."""
    return BadReport(*report, problem) if report else ApiError(f"{what}: {problem}")


def _backoff(attempt: int) -> float:
    """First retry at once (a cut-off body is usually a one-off), then exponential."""
    return 0 if attempt == 1 else min(8.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.5)


class ReportClient:
    """One client per process; thread-safe for concurrent report fetches."""

    def __init__(self, settings: ApiSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self._http = Transport(settings, session)
        self.session = self._http.session
        self.stats = self._http.stats
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()

    def _redact(self, text: str) -> str:
        return self._http.redact(text, self._token)

    def token(self, force: bool = False) -> str:
        """A valid token, refreshed before it expires (15-minute partner tokens included)."""
        with self._token_lock:
            if force or self._token is None or time.monotonic() >= self._token_expires:
                self._token, self._token_expires = fetch_token(self._http, self._redact)
            return self._token

    def _forget(self, token: str) -> None:
        """Drop a token the API refused, unless another thread has already replaced it."""
        with self._token_lock:
            if self._token == token:
                self._token = None

    # --- one request ---------------------------------------------------------------------------
    def _get(
        self,
        path: str,
        params: dict[str, str],
        what: str,
        report: tuple[str, str, date] | None = None,
        on_body: Callable[[requests.Response], None] | None = None,
    ) -> tuple[requests.Response, Any]:
        """GET with a token refresh on 401 (once per token, twice at most) and bounded retries of
        cut-off bodies.

        A complete body that is not JSON is retried once (a proxy hiccup), then reported: a
        server that keeps sending it will not heal within a run. Returns (response, parsed JSON
        or None for non-200 answers). A ``report`` page's items may be
        :class:`~vipps_pipeline.api.pagejson.Entries` (read by Arrow) instead of a list.
        ``on_body`` is called once, with the first complete 200 answer, before it is decoded.
        """
        url = f"{self.settings.base_url}{path}"
        deadline = time.monotonic() + BODY_RETRY_BUDGET_SECONDS
        refused: set[str] = set()  # tokens this request was refused with
        attempt = invalid_json = 0
        while True:
            token = self.token()
            self._http.count_request(what)
            try:
                response = self._send(url, params, what, token, report)
                if response.status_code == 401 and token not in refused and len(refused) < 2:
                    # once per token: a request in flight beside this one may have had its
                    # refusal replace the token this retry then used (a run walks ahead)
                    log.info("%s: HTTP 401, refreshing the token and retrying", what)
                    self._forget(token)
                    refused.add(token)
                    continue
                if response.status_code != 200:
                    return response, None
                if on_body is not None:
                    on_body(response)
                    on_body = None  # a body retried after it proved not JSON starts nothing
                fast = (
                    report
                    and declares_utf8(response)
                    and read_report_page(response.content, self.settings.include_gdpr)
                )
                try:
                    return response, (fast or response.json(object_pairs_hook=no_duplicate_keys))
                except DuplicateKey as exc:  # the same answer again would say the same
                    raise _refused(what, report, str(exc)) from None
                except ValueError as exc:
                    error = _refused(what, report, f"invalid JSON: {exc}")
                    invalid_json += 1
                    if invalid_json > 1:
                        raise error from None
            except _CUT_OFF as exc:
                error = ApiError(self._redact(f"{what}: {type(exc).__name__}: {exc}"))
            attempt += 1
            if attempt > self.settings.http_retries or time.monotonic() >= deadline:
                raise error
            self.stats["body_retries"] += 1
            time.sleep(_backoff(attempt))

    def _send(
        self,
        url: str,
        params: dict[str, str],
        what: str,
        token: str,
        report: tuple[str, str, date] | None,
    ) -> requests.Response:
        """One GET and its whole body (read so the connection is kept alive), within the
        deadline and the size cap; retries of 429 and 5xx happen inside, in urllib3."""
        started = time.monotonic()
        try:
            response = self.session.get(
                url,
                params=params,
                headers=auth_headers(self.settings, token),
                timeout=self._http.timeout(),
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.InvalidHeader as exc:  # its text quotes the value
            raise ApiError(self._redact(f"{what}: {exc}")) from None
        if response.raw.retries is not None and response.raw.retries.history:
            started = time.monotonic()  # urllib3 waited out a 429 or 5xx: not the body
        self._http.check_origin(response, what)
        try:
            read_body(
                response, started + self.settings.http_timeout_seconds, self.settings.max_body_bytes
            )
        except BodyRefused as exc:
            raise _refused(what, report, str(exc)) from None
        return response

    def _raise_for(self, response: requests.Response, what: str) -> NoReturn:
        cls = {401: AuthError, 403: LedgerForbidden}.get(response.status_code, ApiError)
        raise cls(
            self._redact(f"{what}: HTTP {response.status_code}: {api_message(response)}"),
            response.status_code,
        )

    # --- endpoints -----------------------------------------------------------------------------
    def list_ledgers(self, settles_for_recipient_handle: str | None = None) -> LedgerList:
        """All ledgers of these keys, following the cursor; accepts ``ledgers`` or ``items``."""
        result = LedgerList()
        params: dict[str, str] = {}
        if settles_for_recipient_handle:
            params["settlesForRecipientHandles"] = settles_for_recipient_handle
        seen: set[str] = set()
        for _ in range(self.settings.max_pages):
            response, body = self._get("/settlement/v1/ledgers", params, "list ledgers")
            if body is None:
                self._raise_for(response, "list ledgers")
            if not isinstance(body, dict):
                raise ApiError("list ledgers: the answer is not a JSON object")
            ledgers = body.get("ledgers", body.get("items"))
            if not isinstance(ledgers, list):
                raise ApiError("list ledgers: the answer has no 'ledgers' (or 'items') list")
            result.ledgers.extend(ledgers)
            units = body.get("salesUnits") or []
            if isinstance(units, list):
                result.sales_units.extend(units)
            cursor = body.get("cursor") or ""
            if not cursor:
                return result
            if cursor in seen:
                raise ApiError("list ledgers: the cursor repeats (paging loop)")
            seen.add(cursor)
            params = {"cursor": cursor}
        raise ApiError(f"list ledgers: more than {self.settings.max_pages} pages")

    def _report_path(self, ledger_id: str, topic: str) -> str:
        validate_ledger_id(ledger_id)
        if topic not in TOPICS:
            raise ValueError(f"topic must be one of {TOPICS}, got {topic!r}")
        return f"/report/v2/ledgers/{ledger_id}/{topic}"

    def day_walk(self, ledger_id: str, topic: str, ledger_date: date) -> DayWalk:
        """The by-date walk of one ledger-day, not yet started (see :meth:`iter_report_pages`)."""
        path = f"{self._report_path(ledger_id, topic)}/dates/{ledger_date.isoformat()}"
        ids = (ledger_id, topic, ledger_date)
        where = f"ledger {ledger_id}, {topic}, {ledger_date}"

        def get(
            params: dict[str, str], on_body: Callable[[requests.Response], None]
        ) -> tuple[requests.Response, Any]:
            return self._get(path, params, where, ids, on_body=on_body)

        return DayWalk(ids, self.settings, get, self._raise_for)

    def iter_report_pages(
        self, ledger_id: str, topic: str, ledger_date: date, walk: DayWalk | None = None
    ) -> Iterator[ReportPage]:
        """Yield the by-date report page by page; raise :class:`NotReady` if it is not final.

        An empty trailing page after ``hasMore: true`` is normal. ``tryLater: true`` on any page
        raises NotReady: the items so far are real but not the whole day. The pages are fetched
        ahead on a background thread (:class:`~vipps_pipeline.api.reports.DayWalk`); ``walk``:
        this day's walk from :meth:`day_walk`, its first page possibly asked for already.
        """
        walk = walk or self.day_walk(ledger_id, topic, ledger_date)
        yield from walk.pages()

    def feed_page(self, ledger_id: str, topic: str, cursor: str | None = None) -> FeedPage:
        """One page of the continuous feed; persist the returned cursor after every page."""
        path = f"{self._report_path(ledger_id, topic)}/feed"
        params = {"cursor": cursor} if cursor else {}
        if self.settings.include_gdpr:
            params["includeGDPRSensitiveData"] = "true"
        what = f"feed of ledger {ledger_id}, {topic}"
        response, body = self._get(path, params, what)
        if body is None:
            self._raise_for(response, what)
        return read_feed_page(body, what, cursor)
