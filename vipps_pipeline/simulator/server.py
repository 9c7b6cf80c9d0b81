"""The simulator's HTTP server: the Report API's endpoints, auth flows and failure modes.

It is a real server on 127.0.0.1 (tests use it over loopback, never mocks), built on the standard
library so it starts in milliseconds inside a test process or a ``vipps-pipeline simulate``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vipps_pipeline.simulator.faults import Faults
from vipps_pipeline.simulator.model import DEMO_CREDENTIALS, NoSuchLedger, World

_DATE_PATH = re.compile(r"^/report/v2/ledgers/([^/]+)/([^/]+)/dates/([^/]+)$")
_FEED_PATH = re.compile(r"^/report/v2/ledgers/([^/]+)/([^/]+)/feed$")
_GDPR_FIELDS = ("name", "maskedPhoneNo", "message")
MERCHANT_TOKEN_TTL = 3600
PARTNER_TOKEN_TTL = 900


def _encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _decode_cursor(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("malformed cursor") from None
    if not isinstance(data, dict):
        raise ValueError("malformed cursor")
    return data


class _Reply(Exception):
    """Short-circuits a handler with an HTTP answer."""

    def __init__(
        self,
        status: int,
        body: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}


def _problem(status: int, title: str, detail: str, instance: str = "") -> _Reply:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return _Reply(status, body, "application/problem+json")


class Simulator:
    """A running simulator: ``with Simulator() as sim: sim.base_url``.

    ``clock`` returns the simulated "now"; tests pin it so which dates are open is deterministic.
    ``requests_log`` keeps (method, path, query, headers) of every request for assertions.

    ``prerender`` is for benchmarks: the pages of every closed large day are rendered once, up
    front (:meth:`prerender`), and then answered as stored bytes, so the simulator is never
    the bottleneck of a client that is measured against it. Generating entries in Python is
    ten times slower than a client can decode them; a benchmark against that measures the
    simulator. Everything else (tokens, faults, other days) is served as usual.
    """

    def __init__(
        self,
        world: World | None = None,
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        credentials: dict[str, dict[str, str]] | None = None,
        prerender: bool = False,
    ) -> None:
        self.world = world or World()
        self.credentials = credentials or DEMO_CREDENTIALS
        self.issued_tokens: list[str] = []
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (key type, expiry epoch)
        # bounded: `simulate` and `dev` run for hours; tests look at far fewer requests
        self.requests_log: deque[tuple[str, str, dict[str, list[str]], dict[str, str]]] = deque(
            maxlen=100_000
        )
        self.counters: Counter[str] = Counter()
        self._polls: Counter[tuple[str, str, str]] = Counter()
        self._api_calls = itertools.count(1)
        self._pages = itertools.count(1)
        self._lock = threading.Lock()
        # (ledger, topic, date, offset, GDPR) -> (body, entries): closed large days only
        self._rendered: dict[tuple[str, str, str, int, bool], tuple[RawBody, int]] | None = (
            {} if prerender else None
        )
        handler = type("Handler", (_Handler,), {"sim": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> Faults:
        return self.world.faults

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Simulator:
        # shutdown() waits for the serve loop's next poll: 0.5 s by default, per test
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def revoke_all_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def env(self, key_type: str = "merchant") -> dict[str, str]:
        """Environment variables that point the pipeline at this simulator."""
        creds = self.credentials[key_type]
        env = {
            "VIPPS_BASE_URL": self.base_url,
            "VIPPS_KEY_TYPE": key_type,
            "VIPPS_CLIENT_ID": creds["client_id"],
            "VIPPS_CLIENT_SECRET": creds["client_secret"],
        }
        if key_type == "merchant":
            env["VIPPS_SUBSCRIPTION_KEY"] = creds["subscription_key"]
            env["VIPPS_MERCHANT_SERIAL_NUMBER"] = creds["merchant_serial_number"]
        return env

    # --- token issuing -------------------------------------------------------------------------
    def _issue(self, key_type: str, ttl: int) -> str:
        ttl = self.faults.token_ttl_seconds or ttl
        token = "sim-" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = (key_type, time.time() + ttl)
            self.issued_tokens.append(token)
        self.counters[f"token_{key_type}"] += 1
        return token

    def merchant_token(self, headers: dict[str, str]) -> dict[str, Any]:
        creds = self.credentials["merchant"]
        if (
            headers.get("client_id") != creds["client_id"]
            or headers.get("client_secret") != creds["client_secret"]
            or headers.get("ocp-apim-subscription-key") != creds["subscription_key"]
        ):
            raise _Reply(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "Bad client_id, client_secret or subscription key",
                },
            )
        ttl = self.faults.token_ttl_seconds or MERCHANT_TOKEN_TTL
        now = int(time.time())
        token = self._issue("merchant", ttl)
        return {  # every field a string, as the real endpoint answers
            "token_type": "Bearer",
            "expires_in": str(ttl),
            "ext_expires_in": str(ttl),
            "expires_on": str(now + ttl),
            "not_before": str(now),
            "resource": "00000002",
            "access_token": token,
        }

    def partner_token(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        if "ocp-apim-subscription-key" in headers:
            raise _problem(400, "Bad Request", "Ocp-Apim-Subscription-Key must not be sent")
        creds = self.credentials["partner"]
        expected = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode())
        if headers.get("authorization", "") != "Basic " + expected.decode():
            raise _Reply(401, {"error": "invalid_client"})
        form = parse_qs(body.decode("ascii", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            raise _Reply(400, {"error": "unsupported_grant_type"})
        ttl = self.faults.token_ttl_seconds or PARTNER_TOKEN_TTL
        return {  # a number in one vendor source, a string in its generated SDK types
            "access_token": self._issue("partner", ttl),
            "token_type": "Bearer",
            "expires_in": str(ttl) if self.faults.partner_expires_in_string else ttl,
        }

    def authenticate(self, headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            found = self.tokens.get(token)
        if found is None or found[1] < time.time():
            self.counters["401"] += 1
            raise _Reply(401, {"code": "Unauthorized", "message": "Please check your API keys"})
        key_type = found[0]
        if key_type == "merchant" and "ocp-apim-subscription-key" not in headers:
            raise _Reply(
                401,
                {"statusCode": 401, "message": "Access denied due to missing subscription key."},
            )
        if key_type == "partner" and "ocp-apim-subscription-key" in headers:
            raise _problem(400, "Bad Request", "Accounting-partner tokens take no subscription key")
        return token

    # --- transport faults ----------------------------------------------------------------------
    def outage(self) -> None:
        """Every request fails with 503 while the simulated clock is inside an outage."""
        window = self.faults.outage
        if window is not None and window[0] <= self.clock() < window[1]:
            self.counters["503_outage"] += 1
            raise _Reply(503, {"statusCode": 503, "message": "Service Unavailable"})

    def transport_faults(self) -> None:
        n = next(self._api_calls)
        f = self.faults
        if f.rate_limit_every and n % f.rate_limit_every == 0:
            self.counters["429"] += 1
            raise _Reply(
                429,
                {"statusCode": 429, "message": "Rate limit is exceeded."},
                headers={"Retry-After": str(f.retry_after_seconds)},
            )
        if f.server_error_every and n % f.server_error_every == 0:
            self.counters["500"] += 1
            raise _Reply(
                500,
                {
                    "errorCode": 100001,
                    "errorMessage": "Internal error",
                    "contextId": "123e4567-e89b-12d3-a456-426655440000",
                },
            )

    # --- endpoints -----------------------------------------------------------------------------
    def ledgers(self, query: dict[str, list[str]]) -> dict[str, Any]:
        now = self.clock()
        specs = sorted(
            (s for s in self.world.ledgers.values() if self.world.listed(s, now)),
            key=lambda s: s.ledger_id,
        )
        wanted = query.get("settlesForRecipientHandles", [None])[0]
        offset = 0
        if query.get("cursor", [""])[0]:
            try:
                cursor = _decode_cursor(query["cursor"][0])
                offset = int(cursor["offset"])
                wanted = cursor.get("handle")
            except (ValueError, KeyError, TypeError):
                raise _problem(400, "Bad Request", "Invalid cursor") from None
        if wanted:
            specs = [s for s in specs if wanted in s.recipient_handles]
        size = self.faults.ledgers_page_size
        page = specs[offset : offset + size]
        more = offset + size < len(specs)
        shape = self.faults.ledger_list_shape
        ledgers = [
            {
                "ledgerId": s.ledger_id,
                "currency": s.currency,
                "payoutBankAccount": {"scheme": s.bank_account[0], "id": s.bank_account[1]},
                "owner": {"id": s.owner[0], "scheme": s.owner[1]},
                "settlesForRecipientHandles": list(s.recipient_handles),
            }
            for s in page
        ]
        body: dict[str, Any] = {
            "cursor": _encode_cursor({"offset": offset + size, "handle": wanted}) if more else ""
        }
        if shape == "reference":  # the API reference: `ledgers`, sales units beside them
            body["ledgers"] = ledgers
            body["salesUnits"] = [
                {
                    "name": s.sales_unit,
                    "recipientHandle": list(s.recipient_handles),
                    "businessIdentifier": {"id": s.owner[0], "scheme": s.owner[1]},
                }
                for s in page
            ]
        elif shape == "openapi":  # the 2023 OpenAPI file: `items`, no sales units
            body["items"] = ledgers
        else:  # the newest guide: `items`, each with its own units, one handle per unit
            body["items"] = [
                {
                    **ledger,
                    "salesUnits": [
                        {
                            "name": s.sales_unit if i == 0 else f"{s.sales_unit} {handle}",
                            "recipientHandle": handle,
                            "businessIdentifier": {"id": s.owner[0], "scheme": s.owner[1]},
                        }
                        for i, handle in enumerate(s.recipient_handles)
                    ],
                }
                for ledger, s in zip(ledgers, page, strict=True)
            ]
        return body

    def report(
        self,
        ledger_id: str,
        topic: str,
        raw_date: str,
        query: dict[str, list[str]],
        token: str,
        path: str,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if topic not in {"funds", "fees"}:
            raise _problem(400, "Bad Request", f"topic must be funds or fees, got {topic!r}", path)
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", raw_date):
            raise _problem(400, "Bad Request", "ledgerDate must be YYYY-MM-DD", path)
        try:
            d = date.fromisoformat(raw_date)
        except ValueError:
            raise _problem(400, "Bad Request", "ledgerDate is not a date", path) from None
        if ledger_id in self.faults.forbidden_ledgers:
            raise _problem(403, "Forbidden", f"Not authorized for ledger {ledger_id}", path)
        cursor_raw = query.get("cursor", [""])[0]
        offset = 0
        if cursor_raw:
            try:
                cursor = _decode_cursor(cursor_raw)
                if (cursor["l"], cursor["t"], cursor["d"]) != (ledger_id, topic, raw_date):
                    raise ValueError("cursor belongs to another report")
                offset = int(cursor["o"])
            except (ValueError, KeyError, TypeError) as exc:
                raise _problem(400, "Bad Request", f"Invalid cursor: {exc}", path) from None
        else:
            key = (ledger_id, topic, raw_date)
            with self._lock:
                self._polls[key] += 1
                polls = self._polls[key]
            if polls <= self.faults.not_ready_polls:
                self.counters["404_not_ready"] += 1
                raise _Reply(404, b"", "text/plain")
        self._page_faults(token)
        gdpr = query.get("includeGDPRSensitiveData", ["false"])[0].lower() == "true"
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
            raise _problem(404, "Not Found", str(exc), path) from None
        except LookupError:
            self.counters["404"] += 1
            raise _Reply(404, b"", "text/plain") from None
        body = self._page(day, visible, try_later, offset, gdpr, (ledger_id, topic, raw_date))
        self.counters["entries_served"] += len(body["items"])
        kind = self.faults.corrupt.get((ledger_id, d))
        if kind:
            body = _corrupt(body, kind, cursor_raw, {"l": ledger_id, "t": topic, "d": raw_date})
        return body, {"Vipps-Feed-Page-Size": str(size)}

    def _page(
        self,
        day: Any,
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
            items = [{k: v for k, v in e.items() if k not in _GDPR_FIELDS} for e in items]
        body: dict[str, Any] = {"hasMore": has_more, "tryLater": try_later, "items": items}
        if has_more:
            body["cursor"] = _encode_cursor({"l": ids[0], "t": ids[1], "d": ids[2], "o": nxt})
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

    def _page_faults(self, token: str) -> None:
        n = next(self._pages)
        f = self.faults
        if f.slow_every and n % f.slow_every == 0:
            self.counters["slow"] += 1
            time.sleep(f.slow_seconds)
        if f.revoke_token_every and n % f.revoke_token_every == 0:
            with self._lock:
                self.tokens.pop(token, None)
            self.counters["revoked"] += 1
            raise _Reply(401, {"code": "Unauthorized", "message": "Token revoked"})

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
            raise _problem(400, "Bad Request", f"topic must be funds or fees, got {topic!r}", path)
        if ledger_id in self.faults.forbidden_ledgers:
            raise _problem(403, "Forbidden", f"Not authorized for ledger {ledger_id}", path)
        now = self.clock()
        spec = self.world.ledgers.get(ledger_id)
        if spec is None or not self.world.listed(spec, now):
            self.counters["404_no_such_ledger"] += 1
            raise _problem(404, "Not Found", "No such ledgerId", path)
        d, offset = spec.start, 0
        if query.get("cursor", [""])[0]:
            try:
                cursor = _decode_cursor(query["cursor"][0])
                if (cursor["l"], cursor["t"]) != (ledger_id, topic):
                    raise ValueError("cursor belongs to another feed")
                d, offset = date.fromisoformat(cursor["d"]), int(cursor["o"])
            except (ValueError, KeyError, TypeError) as exc:
                raise _problem(400, "Bad Request", f"Invalid cursor: {exc}", path) from None
        self._page_faults(token)
        f = self.faults
        n = self.counters["feed_pages"] = self.counters["feed_pages"] + 1
        position = {"l": ledger_id, "t": topic, "d": d.isoformat(), "o": offset}
        if f.feed_empty_page_every and n % f.feed_empty_page_every == 0:
            self.counters["feed_empty_pages"] += 1
            return {"cursor": _encode_cursor({**position, "n": n}), "tryLater": False, "items": []}
        items: list[dict[str, Any]] = []
        size = f.page_size
        while len(items) < size:
            start, end = self.world.window(spec, d)
            if now < start:  # a date that has not begun: the end of the feed for now
                break
            day = self.world.feed_day(ledger_id, topic, d)
            visible = day.visible_count(now)
            take = min(visible, offset + size - len(items))
            if offset < take:
                items += day.page(offset, take)
                offset = take
            if len(items) >= size or offset < len(day) or now < end:
                break  # a full page, or the date may still get entries
            d, offset = d + timedelta(days=1), 0
        try_later = len(items) < size
        if try_later and items and f.trailing_empty_page:
            try_later = False  # the client asks once more and gets an empty page
        if query.get("includeGDPRSensitiveData", ["false"])[0].lower() != "true":
            items = [{k: v for k, v in e.items() if k not in _GDPR_FIELDS} for e in items]
        self.counters["feed_entries_served"] += len(items)
        return {
            "cursor": _encode_cursor({**position, "d": d.isoformat(), "o": offset}),
            "tryLater": try_later,
            "items": items,
        }


class RawBody(bytes):
    """A body sent as-is (not JSON-encoded): for the invalid-JSON corruption."""


def _corrupt(body: dict[str, Any], kind: str, cursor: str, ids: dict[str, str]) -> Any:
    items = body["items"]
    first = dict(items[0]) if items else {}
    if kind == "invalid_json":
        return RawBody(b'{"hasMore": false, "items": [{"amount": 1,')
    if kind == "items_not_list":
        return {**body, "items": {"0": first}}
    if kind == "cursor_loop":  # the same cursor again and again
        return {**body, "hasMore": True, "cursor": _encode_cursor({**ids, "o": 0})}
    if kind == "endless_pages":  # a new cursor every time, never hasMore: false
        offset = (_decode_cursor(cursor)["o"] + 1) if cursor else 1
        return {**body, "hasMore": True, "cursor": _encode_cursor({**ids, "o": offset})}
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


class _Handler(BaseHTTPRequestHandler):
    sim: Simulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines would flood test output."""

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def _dispatch(self, method: str) -> None:
        sim = self.sim
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        sim.requests_log.append((method, parts.path, query, dict(self.headers.items())))
        extra: dict[str, str] = {}
        truncate = False
        try:
            sim.outage()
            if method == "POST" and parts.path == "/accesstoken/get":
                answer: Any = sim.merchant_token(headers)
            elif method == "POST" and parts.path == "/miami/v1/token":
                answer = sim.partner_token(headers, body)
            elif method != "GET":
                raise _problem(405, "Method Not Allowed", method)
            else:
                token = sim.authenticate(headers)
                sim.transport_faults()
                canned = sim.faults.canned.get(parts.path)
                if canned:
                    status, raw, content_type = canned.pop(0) if len(canned) > 1 else canned[0]
                    raise _Reply(status, raw, content_type)
                if parts.path == "/settlement/v1/ledgers":
                    answer = sim.ledgers(query)
                elif m := _DATE_PATH.match(parts.path):
                    answer, extra = sim.report(*m.groups(), query, token, parts.path)
                    n = sim.counters["report_pages"] = sim.counters["report_pages"] + 1
                    truncate = bool(
                        sim.faults.truncate_every and n % sim.faults.truncate_every == 0
                    )
                elif m := _FEED_PATH.match(parts.path):
                    answer = sim.feed(*m.groups(), query, token, parts.path)
                    n = sim.counters["feed_pages"]
                    truncate = bool(
                        sim.faults.truncate_every and n % sim.faults.truncate_every == 0
                    )
                else:
                    raise _problem(404, "Not Found", "No such endpoint", parts.path)
            raw = answer if isinstance(answer, RawBody) else json.dumps(answer).encode()
            self._send(200, raw, "application/json", extra, truncate)
        except _Reply as reply:
            raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self._send(reply.status, raw, reply.content_type, reply.headers)

    def _send(
        self,
        status: int,
        raw: bytes,
        content_type: str,
        headers: dict[str, str],
        truncate: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in headers.items():
            self.send_header(k, v)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.sim.counters["truncated"] += 1
            self.wfile.write(raw[: len(raw) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(raw)
