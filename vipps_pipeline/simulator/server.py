"""The simulator's HTTP server: the Report API's endpoints, auth flows and failure modes.

It is a real server on 127.0.0.1 (tests use it over loopback, never mocks), built on the standard
library so it starts in milliseconds inside a test process or a ``vipps-pipeline simulate``.
This module holds the server's life cycle and the routing; each endpoint family has its own
module (``auth``, ``ledger_list``, ``by_date``, ``feed_endpoint``, ``fault_injection``), mixed
into :class:`Simulator` so that tests can patch one endpoint on one instance.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vipps_pipeline.simulator.auth import TokenDesk
from vipps_pipeline.simulator.by_date import ByDateReports, RenderedKey
from vipps_pipeline.simulator.faults import Faults
from vipps_pipeline.simulator.feed_endpoint import FeedEndpoint
from vipps_pipeline.simulator.ledger_list import LedgerListing
from vipps_pipeline.simulator.ledgers import DEMO_CREDENTIALS
from vipps_pipeline.simulator.model import World
from vipps_pipeline.simulator.wire import RawBody, Reply, problem

_DATE_PATH = re.compile(r"^/report/v2/ledgers/([^/]+)/([^/]+)/dates/([^/]+)$")
_FEED_PATH = re.compile(r"^/report/v2/ledgers/([^/]+)/([^/]+)/feed$")


class Simulator(TokenDesk, LedgerListing, ByDateReports, FeedEndpoint):
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
        self._rendered: dict[RenderedKey, tuple[RawBody, int]] | None = {} if prerender else None
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
                raise problem(405, "Method Not Allowed", method)
            else:
                token = sim.authenticate(headers)
                sim.transport_faults()
                canned = sim.faults.canned.get(parts.path)
                if canned:
                    status, raw, content_type = canned.pop(0) if len(canned) > 1 else canned[0]
                    raise Reply(status, raw, content_type)
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
                    raise problem(404, "Not Found", "No such endpoint", parts.path)
            raw = answer if isinstance(answer, RawBody) else json.dumps(answer).encode()
            self._send(200, raw, "application/json", extra, truncate)
        except Reply as reply:
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
