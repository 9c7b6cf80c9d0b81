"""The two token flows the Report API accepts, and the checks on every API request.

Merchant keys (``/accesstoken/get``: credentials in headers, a subscription key on every call)
and accounting-partner keys (``/miami/v1/token``: Basic auth and a form, no subscription key)
answer differently, down to the type of ``expires_in``; the simulator reproduces both.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from vipps_pipeline.simulator.faults import Faults
from vipps_pipeline.simulator.wire import Reply, problem

MERCHANT_TOKEN_TTL = 3600
PARTNER_TOKEN_TTL = 900


class TokenDesk:
    """Token issuing and checking, mixed into :class:`~vipps_pipeline.simulator.Simulator`."""

    credentials: dict[str, dict[str, str]]
    tokens: dict[str, tuple[str, float]]
    issued_tokens: list[str]
    counters: Counter[str]
    faults: Faults
    _lock: threading.Lock

    def revoke_all_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

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
            raise Reply(
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
            raise problem(400, "Bad Request", "Ocp-Apim-Subscription-Key must not be sent")
        creds = self.credentials["partner"]
        expected = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode())
        if headers.get("authorization", "") != "Basic " + expected.decode():
            raise Reply(401, {"error": "invalid_client"})
        form = parse_qs(body.decode("ascii", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            raise Reply(400, {"error": "unsupported_grant_type"})
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
            raise Reply(401, {"code": "Unauthorized", "message": "Please check your API keys"})
        key_type = found[0]
        if key_type == "merchant" and "ocp-apim-subscription-key" not in headers:
            raise Reply(
                401,
                {"statusCode": 401, "message": "Access denied due to missing subscription key."},
            )
        if key_type == "partner" and "ocp-apim-subscription-key" in headers:
            raise problem(400, "Bad Request", "Accounting-partner tokens take no subscription key")
        return token
