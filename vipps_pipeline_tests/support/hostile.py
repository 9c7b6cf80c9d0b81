"""A hostile Report API on 127.0.0.1: redirects, trickles, endless pages, huge bodies,
duplicated keys, int64-sized amounts and entries of another ledger (issue 19).

The simulator models a well-behaved API with faults; this server is the attacker and the broken
network instead, and stays small so each answer is plain to read. ``mode`` picks the answer of
every report request; the token request answers normally unless ``mode`` is
``"redirect_token"``. A second listener, :class:`Recorder`, is the attacker's host: it records
every request it gets, so a test can assert that no credential ever reached it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CLIENT_ID = "hostile-client-id"
CLIENT_SECRET = "hostile-client-secret-S3CR3T"
SUBSCRIPTION_KEY = "hostile-subscription-key-K3Y"
MSN = "123456"
TOKEN = "hostile-token-T0K3N"
LEDGER = "100001"
DAY = date(2026, 11, 11)


def entry(amount: int, before: int, **extra: Any) -> dict[str, Any]:
    """A well-formed funds entry whose balances add up."""
    return {
        "pspReference": f"psp-{before}-{amount}",
        "time": "2026-11-11T10:00:00Z",
        "ledgerDate": DAY.isoformat(),
        "entryType": "capture",
        "reference": "order",
        "currency": "NOK",
        "amount": amount,
        "balanceBefore": before,
        "balanceAfter": before + amount,
        "recipientHandle": "NO:123456",
        **extra,
    }


def page(items: list[dict[str, Any]], **envelope: Any) -> bytes:
    return json.dumps({"hasMore": False, "tryLater": False, "items": items, **envelope}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """The client hanging up mid-answer is what the tests want: no traceback for it."""


class _Base(BaseHTTPRequestHandler):
    server_version = "hostile"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
        pass

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.owner.requests.append(  # type: ignore[attr-defined]
            (self.command, self.path, dict(self.headers.items()), body)
        )

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Recorder:
    """The attacker's host: answers 200 with a final, empty day to anything, and keeps every
    request (method, path, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        recorder = self

        class Handler(_Base):
            def do_GET(self) -> None:
                self._record()
                self.send(200, page([]))

            def do_POST(self) -> None:
                self._record()
                self.send(200, json.dumps({"access_token": "stolen", "expires_in": 3600}).encode())

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.owner = recorder  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def seen(self, secret: str) -> bool:
        """Whether ``secret`` reached this host in any header or body."""
        return any(
            secret in value for _, _, headers, _ in self.requests for value in headers.values()
        ) or any(secret.encode() in body for *_, body in self.requests)


class HostileServer:
    """The configured base URL. ``mode`` chooses how report requests are answered."""

    def __init__(self, other: Recorder) -> None:
        self.other = other
        self.mode = "ok"
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.trickle_seconds = 0.2
        self.huge_bytes = 1 << 20
        hostile = self

        class Handler(_Base):
            def do_POST(self) -> None:
                self._record()
                if hostile.mode == "redirect_token":
                    target = f"{hostile.other.url}{self.path}"
                    self.send(307, b"", {"Location": target})
                    return
                token = TOKEN + "\r\nX-Injected: 1" if hostile.mode == "bad_token" else TOKEN
                self.send(200, json.dumps({"access_token": token, "expires_in": "3600"}).encode())

            def do_GET(self) -> None:
                self._record()
                getattr(self, f"answer_{hostile.mode}")()

            def answer_ok(self) -> None:
                self.send(200, page([entry(100, 0)]))

            def answer_redirect_report(self) -> None:
                self.send(302, b"", {"Location": f"{hostile.other.url}{self.path}"})

            def answer_redirect_trickle(self) -> None:
                """A redirect whose body never ends: requests would read it to prepare the
                redirect, with no limit, even with allow_redirects=False."""
                self.send_response(302)
                self.send_header("Location", f"{hostile.other.url}{self.path}")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                for _ in range(50):
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(hostile.trickle_seconds)

            def answer_trickle(self) -> None:
                body = page([entry(100, 0)])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for byte in body:  # one byte at a time: no single read ever times out
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:  # the client hung up, as it should
                        return
                    time.sleep(hostile.trickle_seconds)

            def answer_trickle_headers(self) -> None:
                """A status line, then a header one byte at a time: no body ever starts."""
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    for _ in range(100):
                        self.wfile.write(b"a")
                        self.wfile.flush()
                        time.sleep(hostile.trickle_seconds)
                except OSError:  # the client hung up, as it should
                    return

            def answer_endless(self) -> None:
                n = sum(1 for r in hostile.requests if r[0] == "GET")
                body = page([], hasMore=True, cursor=f"fresh-{n}")
                self.send(200, body, {"Vipps-Feed-Page-Size": "10"})

            def answer_huge(self) -> None:
                self.send(200, b'{"items": [' + b" " * hostile.huge_bytes + b"]}")

            def answer_huge_undeclared(self) -> None:
                """No Content-Length: the body ends when the connection closes, so only the
                bytes read count against the cap."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    self.wfile.write(b'{"items": [')
                    for _ in range(hostile.huge_bytes // 65536 + 1):
                        self.wfile.write(b" " * 65536)
                except OSError:
                    return

            def answer_dup_trylater(self) -> None:
                self.send(
                    200, b'{"hasMore": false, "tryLater": true, "tryLater": false, "items": []}'
                )

            def answer_dup_amount(self) -> None:
                body = page([entry(100, 0)]).replace(
                    b'"amount": 100', b'"amount": 100, "amount": 999'
                )
                self.send(200, body)

            def answer_int64(self) -> None:
                self.send(200, page([entry(2**62, -(2**62)), entry(2**62, 0)]))

            def answer_other_ledger(self) -> None:
                self.send(200, page([entry(100, 0, ledgerId="999999")]))

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.owner = hostile  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def env(self, **overrides: str) -> dict[str, str]:
        """Settings for a merchant client of this server: fast timeouts, no retries."""
        return {
            "VIPPS_BASE_URL": self.url,
            "VIPPS_KEY_TYPE": "merchant",
            "VIPPS_CLIENT_ID": CLIENT_ID,
            "VIPPS_CLIENT_SECRET": CLIENT_SECRET,
            "VIPPS_SUBSCRIPTION_KEY": SUBSCRIPTION_KEY,
            "VIPPS_MERCHANT_SERIAL_NUMBER": MSN,
            "VIPPS_HTTP_TIMEOUT_SECONDS": "5",
            "VIPPS_HTTP_RETRIES": "0",
            **overrides,
        }


@contextmanager
def hostile_api() -> Iterator[HostileServer]:
    """Both listeners, serving on threads until the block ends."""
    other = Recorder()
    server = HostileServer(other)
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for s in (other.httpd, server.httpd)
    ]
    for t in threads:
        t.start()
    try:
        yield server
    finally:
        for s in (other.httpd, server.httpd):
            s.shutdown()
            s.server_close()
