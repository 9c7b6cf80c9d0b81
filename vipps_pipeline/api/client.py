"""Report API client: tokens, headers, paging, retries and the "not ready" outcome.

Transport retries (429 with ``Retry-After``, 5xx, connection errors) are urllib3's ``Retry`` on
the session's adapter; a body cut off mid-stream is retried here, because urllib3 has already
handed the response over by the time the body is read. Every exception text goes through
:meth:`ReportClient._redact`, so no secret or token can leak into a log line or Dagster metadata.

Report pages are the pipeline's bulk: their bodies are read in large reads and straight into
Arrow (:mod:`vipps_pipeline.api.pagejson`), on the fetching threads with the GIL released; a page
Arrow cannot read unambiguously, and every other answer, is decoded by requests as before.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import itertools
import json
import logging
import queue
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from vipps_pipeline.api.pagejson import read_report_page
from vipps_pipeline.api.parse import BadReport, DuplicateKey, Entries, no_duplicate_keys
from vipps_pipeline.settings import TOPICS, ApiSettings, validate_ledger_id

log = logging.getLogger(__name__)
BODY_RETRY_BUDGET_SECONDS = 120.0
_BODY_READ = 1 << 20
"""Bytes per read of a body: requests reads 10 KiB at a time, which costs a quarter of the
time of fetching a 300 KB report page."""


class ApiError(RuntimeError):
    """The API refused a request; the text names what was asked and what the API said."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def transport(self) -> bool:
        """The network or the service failed (no answer, 429 or 5xx), not the request."""
        return self.status is None or self.status == 429 or self.status >= 500


class AuthError(ApiError):
    """Credentials were rejected: nothing else will work with these keys either."""


class LedgerForbidden(ApiError):
    """HTTP 403 for one ledger: these keys may not read it (other ledgers may still work)."""


_no_duplicates = no_duplicate_keys


def strict_json(text: str | bytes) -> Any:
    """JSON as the API must send it: a repeated key is refused (:class:`DuplicateKey`)."""
    return json.loads(text, object_pairs_hook=_no_duplicates)


class BodyRefused(Exception):
    """An answer's body is larger than VIPPS_MAX_BODY_BYTES: asking again would bring the same
    body, so the request fails at once (and the body is not read further)."""


class BadFeed(ValueError):
    """The feed answered with something that is not a valid feed page (nothing is stored)."""


class NotReady(Exception):
    """The ledger-day is not final yet: a 404, or ``tryLater: true`` on a page.

    Never an empty day: callers must store nothing for it and come back later.
    """

    def __init__(
        self, ledger_id: str, topic: str, ledger_date: date, reason: str, detail: str = ""
    ) -> None:
        self.ledger_id, self.topic, self.ledger_date = ledger_id, topic, ledger_date
        self.reason = reason  # "404" or "tryLater"
        self.detail = detail
        super().__init__(ledger_id, topic, ledger_date, reason, detail)

    def __str__(self) -> str:
        what = (
            "HTTP 404 (report not available yet)"
            if self.reason == "404"
            else ("tryLater: true (ledger date not closed yet)")
        )
        return f"ledger {self.ledger_id}, {self.topic}, {self.ledger_date}: not ready: {what}"


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


@dataclass
class FeedPage:
    items: list[dict[str, Any]]
    cursor: str
    try_later: bool


@dataclass
class LedgerList:
    ledgers: list[dict[str, Any]] = field(default_factory=list)
    sales_units: list[dict[str, Any]] = field(default_factory=list)


def _flag(body: dict[str, Any], name: str, ids: tuple[str, str, date]) -> bool:
    """A JSON boolean, or absent (false). Anything else would be a guess: reading ``"true"`` or
    ``1`` as false could store a day that is still open as final, so it is refused."""
    value = body.get(name, False)
    if not isinstance(value, bool):  # null, "true", 1: a changed type, never a guess
        raise BadReport(
            *ids, f"field {name!r} must be true or false, got {type(value).__name__} {value!r}"
        )
    return value


def _read_body(response: requests.Response, deadline: float, limit: int) -> None:
    """Read a streamed response's whole body, refusing one past ``deadline`` (monotonic) or
    larger than ``limit`` bytes (decoded, so a compressed bomb counts at its real size).

    A socket timeout applies to one read only: a server trickling a byte at a time would never
    trip it, so the deadline is checked between reads, and ``read1`` returns whatever arrived
    instead of waiting for a full buffer (``response.content`` reads 10 KiB at a time and would
    wait). Raises what requests raises for ``content``: a body cut off mid-stream is a
    ChunkedEncodingError, a late one a ReadTimeout; a large one is :class:`BodyRefused`.
    Setting ``_content`` is how requests itself stores the body, so ``.json()`` and ``.text``
    work as usual afterwards."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise BodyRefused(
            f"the body is {int(declared):,} bytes, over VIPPS_MAX_BODY_BYTES ({limit:,})"
        )
    parts: list[bytes] = []
    size = 0
    raw = response.raw
    try:
        while chunk := raw.read1(_BODY_READ, decode_content=True):
            size += len(chunk)
            if size > limit:
                raise BodyRefused(f"the body is over VIPPS_MAX_BODY_BYTES ({limit:,} bytes)")
            if time.monotonic() > deadline:  # a slow network: retried like a timeout
                response.close()
                raise requests.exceptions.ReadTimeout(
                    "the answer did not arrive within VIPPS_HTTP_TIMEOUT_SECONDS "
                    f"({size:,} bytes so far)"
                )
            parts.append(chunk)
    except BodyRefused:
        response.close()  # never hand a half-read connection back to the pool
        raise
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from None
    response._content = b"".join(parts)
    response._content_consumed = True


class _Watchdog:
    """One thread for every request's header deadline: a timer thread per request cost about
    0.4 ms, a good part of a small request's time. It lives as long as the process (not named
    ``vipps-*``: those are the per-walk threads, which end with their walk)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def call_at(self, when: float, callback: Callable[[], None]) -> int:
        with self._cv:
            n = next(self._ids)
            self._live[n] = callback
            heapq.heappush(self._heap, (when, n))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadline-watchdog")
                self._thread.daemon = True
                self._thread.start()
            self._cv.notify()
            return n

    def cancel(self, n: int) -> None:
        with self._cv:
            self._live.pop(n, None)

    def _run(self) -> None:
        while True:
            with self._cv:
                while True:
                    while self._heap and self._heap[0][1] not in self._live:
                        heapq.heappop(self._heap)  # cancelled
                    if not self._heap:
                        self._cv.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        callback = self._live.pop(heapq.heappop(self._heap)[1])
                        break
                    self._cv.wait(wait)
            with contextlib.suppress(Exception):
                callback()


_WATCHDOG = _Watchdog()


def _header_deadline(base: type[HTTPConnection]) -> type[HTTPConnection]:
    """``base`` whose wait for the status line and headers ends at the request's deadline.

    The socket timeout applies to one read, so a server trickling its headers a byte at a
    time (http.client accepts 100 lines of 64 KiB) would hold a request for hours. urllib3
    sets ``timeout`` to what is left of the deadline before this wait; a timer shuts the
    socket down when it runs out, and the wait fails as a read timeout (retried like one)."""

    class Connection(base):  # type: ignore[valid-type, misc]
        def getresponse(self) -> Any:  # type: ignore[override]
            sock, limit = self.sock, self.timeout
            if sock is None or not isinstance(limit, (int, float)):
                return super().getresponse()
            fired = threading.Event()

            def cut() -> None:
                fired.set()
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

            timer = _WATCHDOG.call_at(time.monotonic() + limit, cut)
            try:
                response = super().getresponse()
            except Exception:
                if fired.is_set():
                    raise TimeoutError("the headers did not arrive in time") from None
                raise
            finally:
                _WATCHDOG.cancel(timer)
            if fired.is_set():  # cut short, headers can parse as complete: never trust them
                response.close()
                raise TimeoutError("the headers did not arrive in time")
            return response

    Connection.__name__ = f"Deadline{base.__name__}"
    return Connection


class _Pool(HTTPConnectionPool):
    ConnectionCls = _header_deadline(HTTPConnection)


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _header_deadline(HTTPSConnection)  # type: ignore[assignment]


_HEAD = re.compile(rb'\s*\{\s*"hasMore"\s*:\s*true\s*,\s*"tryLater"\s*:\s*false\s*,')
_TAIL = re.compile(rb',\s*"cursor"\s*:\s*"([^"\\\x00-\x1f]+)"\s*\}\s*\Z')


def _plain_cursor(body: bytes) -> str | None:
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


def _utf8(response: requests.Response) -> bool:
    """requests decodes a JSON body as UTF-8 unless the server names another charset."""
    return (response.encoding or "utf-8").lower().replace("-", "") == "utf8"


def _api_message(response: requests.Response) -> str:
    """The API's own error text, from whichever of its error formats it used."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or "").strip()[:300] or response.reason or ""
    if not isinstance(body, dict):
        return str(body)[:300]
    if "title" in body or "detail" in body:  # application/problem+json
        return " - ".join(str(body[k]) for k in ("title", "detail") if body.get(k))
    if "errorMessage" in body:  # 500 format
        code, context = body.get("errorCode"), body.get("contextId")
        return f"{body['errorMessage']} (errorCode {code}, contextId {context})"
    for key in ("message", "error_description", "error"):
        if key in body:
            return str(body[key])
    return json.dumps(body)[:300]


class ReportClient:
    """One client per process; thread-safe for concurrent report fetches."""

    def __init__(self, settings: ApiSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        # Never follow a redirect. allow_redirects=False alone still has requests read a 3xx
        # body (without any limit) to prepare the next request; with no redirect target it
        # reads nothing, and the 3xx comes back to _check_origin as it is.
        self.session.get_redirect_target = lambda response: None  # type: ignore[method-assign]
        self.session.max_redirects = 0
        base = urlsplit(settings.base_url)
        self._origin = (base.scheme, base.netloc.lower())
        retry = Retry(
            total=settings.http_retries,
            connect=settings.http_retries,
            read=settings.http_retries,
            status=settings.http_retries,
            other=0,
            backoff_factor=0.5,
            backoff_max=30,
            backoff_jitter=0.5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}),
            respect_retry_after_header=True,
            retry_after_max=300,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
        adapter.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        self.stats: dict[str, int] = {"requests": 0, "token_refreshes": 0, "body_retries": 0}

    # --- secrets -------------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        """Every form a secret can take in an error text: as sent, as Python quotes it in a
        ``repr`` (an invalid-header error shows ``'key\\n'``), stripped, and inside the partner
        flow's Basic credentials."""
        s = self.settings
        basic = base64.b64encode(
            f"{s.client_id}:{s.client_secret.get_secret_value()}".encode()
        ).decode()
        for secret in (*s.secrets, self._token, basic):
            if not secret:
                continue
            forms = {secret, repr(secret)[1:-1], secret.strip(), str(secret.encode())[2:-1]}
            for form in sorted(forms, key=len, reverse=True):
                if len(form) >= 4 or form == secret:
                    text = text.replace(form, "***")
        return text

    # --- limits --------------------------------------------------------------------------------
    def _timeout(self) -> Timeout:
        """Connect and wait for the headers within the deadline (``total``), not per read."""
        t = float(self.settings.timeout_seconds)
        return Timeout(connect=t, read=t, total=t)

    def _count_request(self, what: str) -> None:
        """The bound on work per process: a runaway loop anywhere ends here, not never."""
        if self.stats["requests"] >= self.settings.max_requests:
            raise ApiError(
                f"{what}: this process has made {self.stats['requests']:,} requests, the "
                f"VIPPS_MAX_REQUESTS limit: stopping instead of running away"
            )
        self.stats["requests"] += 1

    def _check_origin(self, response: requests.Response, what: str) -> None:
        """No redirect is followed and no answer from another origin is accepted: a redirect
        would carry the subscription key, the merchant serial number or the client secret to
        whoever the Location names."""
        if 300 <= response.status_code < 400:
            target = urlsplit(response.headers.get("Location", "")).hostname or "(none)"
            target = target if target.isascii() and target.isprintable() else "(unreadable)"
            response.close()
            raise ApiError(
                f"{what}: HTTP {response.status_code} redirect to host {target[:100]} refused: "
                "the pipeline never follows redirects (they would carry the credentials)",
                response.status_code,
            )
        got = urlsplit(response.url)
        if (got.scheme, got.netloc.lower()) != self._origin:
            response.close()
            raise ApiError(f"{what}: an answer from {got.hostname} is not from VIPPS_BASE_URL")

    # --- headers and tokens --------------------------------------------------------------------
    def _system_headers(self) -> dict[str, str]:
        s = self.settings
        return {
            "Vipps-System-Name": s.system_name,
            "Vipps-System-Version": s.system_version,
            "Vipps-System-Plugin-Name": s.plugin_name,
            "Vipps-System-Plugin-Version": s.plugin_version,
        }

    def _fetch_token(self) -> tuple[str, float]:
        s = self.settings
        headers = self._system_headers()
        if s.key_type == "merchant":
            url = f"{s.base_url}/accesstoken/get"
            headers.update(
                {
                    "client_id": s.client_id,
                    "client_secret": s.client_secret.get_secret_value(),
                    "Ocp-Apim-Subscription-Key": s.subscription_key_value,
                }
            )
            if s.merchant_serial_number:
                headers["Merchant-Serial-Number"] = s.merchant_serial_number
            data: dict[str, str] | None = None
        else:
            url = f"{s.base_url}/miami/v1/token"
            basic = base64.b64encode(
                f"{s.client_id}:{s.client_secret.get_secret_value()}".encode()
            ).decode()
            headers["Authorization"] = f"Basic {basic}"
            data = {"grant_type": "client_credentials"}
        self._count_request("token request")
        started = time.monotonic()
        try:
            response = self.session.post(
                url,
                headers=headers,
                data=data,
                timeout=self._timeout(),
                allow_redirects=False,
                stream=True,
            )
            self._check_origin(response, "token request")
            _read_body(response, started + s.timeout_seconds, s.max_body_bytes)
        except (requests.RequestException, ValueError, BodyRefused) as exc:
            # ValueError: http.client's invalid-header error, which quotes the value
            raise ApiError(self._redact(f"token request to {url} failed: {exc}")) from None
        self.stats["token_refreshes"] += 1
        if response.status_code in (400, 401, 403):
            names = (
                "VIPPS_CLIENT_ID, VIPPS_CLIENT_SECRET and VIPPS_SUBSCRIPTION_KEY"
                if s.key_type == "merchant"
                else "VIPPS_CLIENT_ID and VIPPS_CLIENT_SECRET"
            )
            raise AuthError(
                self._redact(
                    f"the {s.key_type} token request was rejected with HTTP "
                    f"{response.status_code}: "
                    f"{_api_message(response)}; check {names} and VIPPS_KEY_TYPE"
                ),
                response.status_code,
            )
        if response.status_code != 200:
            raise ApiError(
                self._redact(
                    f"token request failed with HTTP "
                    f"{response.status_code}: {_api_message(response)}"
                ),
                response.status_code,
            )
        try:
            body = strict_json(response.content)
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)  # a string for merchant keys
        except DuplicateKey as exc:
            raise ApiError(f"token response: {exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ApiError("token response has no access_token/expires_in") from None
        if not token or not (token.isascii() and token.isprintable()) or " " in token:
            # it goes into a header: the header error would print it
            raise ApiError("token response: access_token is not a valid header value")
        return token, time.monotonic() + lifetime - min(300.0, lifetime * 0.1)

    def token(self, force: bool = False) -> str:
        """A valid token, refreshed before it expires (15-minute partner tokens included)."""
        with self._token_lock:
            if force or self._token is None or time.monotonic() >= self._token_expires:
                self._token, self._token_expires = self._fetch_token()
            return self._token

    def _auth_headers(self, token: str) -> dict[str, str]:
        headers = {
            **self._system_headers(),
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
        }
        if self.settings.key_type == "merchant":
            headers["Ocp-Apim-Subscription-Key"] = self.settings.subscription_key_value
            if self.settings.merchant_serial_number:
                headers["Merchant-Serial-Number"] = self.settings.merchant_serial_number
        return headers

    # --- one request ---------------------------------------------------------------------------
    def _get(
        self,
        path: str,
        params: dict[str, str],
        what: str,
        report: tuple[str, str, date] | None = None,
        on_body: Callable[[requests.Response], None] | None = None,
    ) -> tuple[requests.Response, Any]:
        """GET with one token refresh on 401 and bounded retries of cut-off bodies.

        A complete body that is not JSON is retried once (a proxy hiccup), then reported: a
        server that keeps sending it will not heal within a run. Returns (response, parsed JSON
        or None for non-200 answers). A ``report`` page's items may be
        :class:`~vipps_pipeline.api.parse.Entries` (read by Arrow) instead of a list. ``on_body`` is
        called once, with the first complete 200 answer, before it is decoded.
        """
        url = f"{self.settings.base_url}{path}"
        deadline = time.monotonic() + BODY_RETRY_BUDGET_SECONDS
        refreshed = False
        attempt = invalid_json = 0
        while True:
            token = self.token()
            self._count_request(what)
            try:
                started = time.monotonic()
                try:
                    response = self.session.get(
                        url,
                        params=params,
                        headers=self._auth_headers(token),
                        timeout=self._timeout(),
                        stream=True,
                        allow_redirects=False,
                    )
                except requests.exceptions.InvalidHeader as exc:  # its text quotes the value
                    raise ApiError(self._redact(f"{what}: {exc}")) from None
                if response.raw.retries is not None and response.raw.retries.history:
                    started = time.monotonic()  # urllib3 waited out a 429 or 5xx: not the body
                self._check_origin(response, what)
                # the whole body, so the connection is kept alive
                try:
                    _read_body(
                        response,
                        started + self.settings.timeout_seconds,
                        self.settings.max_body_bytes,
                    )
                except BodyRefused as exc:
                    if report:
                        raise BadReport(*report, str(exc)) from None
                    raise ApiError(f"{what}: {exc}") from None
                if response.status_code == 401 and not refreshed:
                    log.info("%s: HTTP 401, refreshing the token once and retrying", what)
                    with self._token_lock:
                        if self._token == token:
                            self._token = None
                    refreshed = True
                    continue
                if response.status_code != 200:
                    return response, None
                if on_body is not None:
                    on_body(response)
                    on_body = None  # a body retried after it proved not JSON starts nothing
                fast = (
                    report
                    and _utf8(response)
                    and read_report_page(response.content, self.settings.include_gdpr)
                )
                try:
                    return response, (fast or response.json(object_pairs_hook=_no_duplicates))
                except DuplicateKey as exc:  # the same answer again would say the same
                    if report:
                        raise BadReport(*report, str(exc)) from None
                    raise ApiError(f"{what}: {exc}") from None
                except ValueError as exc:
                    error: Exception = (
                        BadReport(*report, f"invalid JSON: {exc}")
                        if report
                        else ApiError(f"{what}: invalid JSON: {exc}")
                    )
                    invalid_json += 1
                    if invalid_json > 1:
                        raise error from None
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
            ) as exc:
                error = ApiError(self._redact(f"{what}: {type(exc).__name__}: {exc}"))
            attempt += 1
            if attempt > self.settings.http_retries or time.monotonic() >= deadline:
                raise error
            self.stats["body_retries"] += 1
            # first retry at once (a cut-off body is usually a one-off), then exponential
            time.sleep(0 if attempt == 1 else min(8.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.5))

    def _raise_for(self, response: requests.Response, what: str) -> None:
        cls = {401: AuthError, 403: LedgerForbidden}.get(response.status_code, ApiError)
        raise cls(
            self._redact(f"{what}: HTTP {response.status_code}: {_api_message(response)}"),
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

    def _page_limit(self, page_size: int | None) -> int:
        """Pages one ledger-day may take: what VIPPS_MAX_DAY_ENTRIES fills at the API's page
        size, plus the empty trailing page (and one spare), never more than VIPPS_MAX_PAGES.
        Endless pages with fresh cursors end here instead of after 20,000 requests a day."""
        if not page_size:
            return self.settings.max_pages
        return min(self.settings.max_pages, -(-self.settings.max_day_entries // page_size) + 2)

    def iter_report_pages(
        self, ledger_id: str, topic: str, ledger_date: date
    ) -> Iterator[ReportPage]:
        """Yield the by-date report page by page; raise :class:`NotReady` if it is not final.

        An empty trailing page after ``hasMore: true`` is normal. ``tryLater: true`` on any page
        raises NotReady: the items so far are real but not the whole day.

        A background thread walks the cursors while the caller processes the pages, so the
        caller's parsing and writing overlap with the fetching; it never waits for the caller
        to wake up (on a busy machine a hand-over per page cost a third of a large day's time).
        The next page is requested the moment a page's body has arrived, before that body is
        decoded, when the body names its next cursor in plain sight (:func:`_plain_cursor`):
        fetching one page and decoding the one before then run side by side. The walk checks
        every page as before, and a request started for a cursor it does not follow is dropped.
        At most three pages are held ahead of the caller, so memory stays flat. Errors come in
        order, after the pages before them.
        """
        base = self._report_path(ledger_id, topic)
        path = f"{base}/dates/{ledger_date.isoformat()}"
        where = f"ledger {ledger_id}, {topic}, {ledger_date}"
        ids = (ledger_id, topic, ledger_date)
        ready: queue.Queue[ReportPage | BaseException | None] = queue.Queue(maxsize=1)
        stop = threading.Event()
        ahead: dict[str, Future] = {}  # the next page, requested before this one was decoded
        lock = threading.Lock()
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vipps-fetch")

        def start_next(response: requests.Response) -> None:
            cursor = _plain_cursor(response.content)
            with lock:  # this page may still be waiting to be taken by the walk: two at most
                if cursor and cursor not in ahead and len(ahead) < 2 and not stop.is_set():
                    ahead[cursor] = pool.submit(fetch, cursor)

        def fetch(cursor: str | None) -> tuple[requests.Response, Any]:
            params = {"cursor": cursor} if cursor else {}
            if self.settings.include_gdpr:
                params["includeGDPRSensitiveData"] = "true"  # on every page, cursor or not
            return self._get(path, params, where, ids, on_body=start_next)

        def walk() -> None:
            seen: set[str] = set()
            cursor: str | None = None
            entries = 0
            limit = self.settings.max_pages  # until the API names its page size
            for number in itertools.count():
                if number >= limit:
                    raise BadReport(
                        *ids,
                        f"more than {limit} pages (VIPPS_MAX_PAGES, or VIPPS_MAX_DAY_ENTRIES "
                        "at the API's page size): runaway paging",
                    )
                with lock:
                    started = ahead.pop(cursor, None) if cursor else None
                    if started is None:
                        ahead.clear()  # started for cursors the walk does not follow
                response, body = started.result() if started else fetch(cursor)
                if body is None:
                    if response.status_code == 404:
                        raise NotReady(*ids, "404", _api_message(response))
                    self._raise_for(response, where)
                if not isinstance(body, dict):
                    raise BadReport(*ids, "the answer is not a JSON object")
                if _flag(body, "tryLater", ids):
                    raise NotReady(
                        *ids, "tryLater", f"{len(body.get('items') or [])} entries so far"
                    )
                cursor = body.get("cursor")
                # before November 2023 there was no hasMore and a cursor alone meant "more";
                # following an extra cursor can cost a request, stopping early loses entries
                more = _flag(body, "hasMore", ids) if "hasMore" in body else bool(cursor)
                if more:
                    if not isinstance(cursor, str) or not cursor:
                        raise BadReport(*ids, "'hasMore' is true but there is no cursor")
                    if cursor in seen:
                        raise BadReport(
                            *ids, f"the cursor repeats after {number + 1} pages (paging loop)"
                        )
                    seen.add(cursor)
                size = response.headers.get("Vipps-Feed-Page-Size")
                page_size = int(size) if size and size.isdigit() and int(size) > 0 else None
                limit = self._page_limit(page_size)
                items = body.get("items")
                entries += len(items) if isinstance(items, (list, Entries)) else 0
                if entries > self.settings.max_day_entries:
                    raise BadReport(
                        *ids,
                        f"more than {self.settings.max_day_entries:,} entries "
                        "(VIPPS_MAX_DAY_ENTRIES): runaway paging",
                    )
                ready.put(ReportPage(items, page_size, number))
                if not more or stop.is_set():
                    return

        def run() -> None:
            try:
                walk()
                ready.put(None)
            except BaseException as exc:  # handed to the caller, in order
                ready.put(exc)
            finally:
                with lock:
                    stop.set()
                    ahead.clear()
                pool.shutdown(wait=True)

        thread = threading.Thread(target=run, name="vipps-prefetch", daemon=True)
        thread.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:  # also when the caller stops early: let the walk end, then wait for it
            stop.set()
            while thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.05)
            thread.join()

    def feed_page(self, ledger_id: str, topic: str, cursor: str | None = None) -> FeedPage:
        """One page of the continuous feed; persist the returned cursor after every page.

        The feed has no ``hasMore``: ``tryLater: true`` means caught up (ask again later with
        the same cursor). Its cursor is always present and never empties, so a page with
        entries but no new cursor is refused: following it would read the same entries again
        (or, without a cursor, the whole feed from the beginning).
        """
        path = f"{self._report_path(ledger_id, topic)}/feed"
        params = {"cursor": cursor} if cursor else {}
        if self.settings.include_gdpr:
            params["includeGDPRSensitiveData"] = "true"
        what = f"feed of ledger {ledger_id}, {topic}"
        response, body = self._get(path, params, what)
        if body is None:
            self._raise_for(response, what)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise BadFeed(f"{what}: the answer has no 'items' list")
        items = body["items"]
        try_later = body.get("tryLater", False)
        if not isinstance(try_later, bool):
            raise BadFeed(f"{what}: field 'tryLater' must be true or false, got {try_later!r}")
        new = body.get("cursor")
        if new is not None and not isinstance(new, str):
            raise BadFeed(f"{what}: field 'cursor' must be a string, got {type(new).__name__}")
        if items and (not new or new == cursor):
            raise BadFeed(f"{what}: a page of {len(items)} entries without a new cursor")
        return FeedPage(items, new or cursor or "", try_later)
