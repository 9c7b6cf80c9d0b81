"""The HTTP session every request shares, and the limits no answer may pass.

Transport retries (429 with ``Retry-After``, 5xx, connection errors) are urllib3's ``Retry`` on
the session's adapter. What urllib3 cannot bound is bounded here: a whole request ends at its
deadline even when a server trickles a byte at a time, a body past VIPPS_MAX_BODY_BYTES is
refused unread, no redirect is followed and no answer from another origin accepted (either
would carry the credentials elsewhere), and every error text is redacted before it can reach a
log line or Dagster metadata.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from vipps_pipeline.api.errors import ApiError, BodyRefused
from vipps_pipeline.settings import ApiSettings

_BODY_READ = 1 << 20
"""Bytes per read of a body: requests reads 10 KiB at a time, which costs a quarter of the
time of fetching a 300 KB report page."""


def read_body(response: requests.Response, deadline: float, limit: int) -> None:
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


def _retry(settings: ApiSettings) -> Retry:
    """Backoff with jitter, so parallel walks hit by one outage do not come back in step."""
    return Retry(
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


def api_message(response: requests.Response) -> str:
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


def declares_utf8(response: requests.Response) -> bool:
    """requests decodes a JSON body as UTF-8 unless the server names another charset."""
    return (response.encoding or "utf-8").lower().replace("-", "") == "utf8"


class Transport:
    """The session with its limits, and the per-process request count: what the token flow and
    every GET share. Thread-safe as requests' session is for concurrent requests."""

    def __init__(self, settings: ApiSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        # Never follow a redirect. allow_redirects=False alone still has requests read a 3xx
        # body (without any limit) to prepare the next request; with no redirect target it
        # reads nothing, and the 3xx comes back to check_origin as it is.
        self.session.get_redirect_target = lambda response: None  # type: ignore[method-assign]
        self.session.max_redirects = 0
        base = urlsplit(settings.base_url)
        self._origin = (base.scheme, base.netloc.lower())
        adapter = HTTPAdapter(max_retries=_retry(settings), pool_connections=4, pool_maxsize=16)
        adapter.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.stats: dict[str, int] = {"requests": 0, "token_refreshes": 0, "body_retries": 0}

    def redact(self, text: str, token: str | None) -> str:
        """Every form a secret can take in an error text: as sent, as Python quotes it in a
        ``repr`` (an invalid-header error shows ``'key\\n'``), stripped, and inside the partner
        flow's Basic credentials."""
        s = self.settings
        basic = base64.b64encode(
            f"{s.client_id}:{s.client_secret.get_secret_value()}".encode()
        ).decode()
        for secret in (*s.secrets, token, basic):
            if not secret:
                continue
            forms = {secret, repr(secret)[1:-1], secret.strip(), str(secret.encode())[2:-1]}
            for form in sorted(forms, key=len, reverse=True):
                if len(form) >= 4 or form == secret:
                    text = text.replace(form, "***")
        return text

    def timeout(self) -> Timeout:
        """Connect and wait for the headers within the deadline (``total``), not per read."""
        t = float(self.settings.http_timeout_seconds)
        return Timeout(connect=t, read=t, total=t)

    def count_request(self, what: str) -> None:
        """The bound on work per process: a runaway loop anywhere ends here, not never."""
        if self.stats["requests"] >= self.settings.max_requests:
            raise ApiError(
                f"{what}: this process has made {self.stats['requests']:,} requests, the "
                f"VIPPS_MAX_REQUESTS limit: stopping instead of running away"
            )
        self.stats["requests"] += 1

    def check_origin(self, response: requests.Response, what: str) -> None:
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
