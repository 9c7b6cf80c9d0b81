"""What every endpoint shares on the wire: opaque cursors, error answers, raw bodies.

The real API's cursors are opaque strings; the simulator's are base64 JSON so it can resume
from them without server-side state, and so a test can forge one (a cursor that repeats).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

GDPR_FIELDS = ("name", "maskedPhoneNo", "message")
"""Customer data the API sends only with ``includeGDPRSensitiveData=true``."""


def encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def decode_cursor(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("malformed cursor") from None
    if not isinstance(data, dict):
        raise ValueError("malformed cursor")
    return data


def wants_gdpr(query: dict[str, list[str]]) -> bool:
    return query.get("includeGDPRSensitiveData", ["false"])[0].lower() == "true"


def without_gdpr(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in GDPR_FIELDS} for e in items]


class Reply(Exception):
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


def problem(status: int, title: str, detail: str, instance: str = "") -> Reply:
    """An RFC 7807 problem answer, the shape the Report API's own errors take."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return Reply(status, body, "application/problem+json")


class RawBody(bytes):
    """A body sent as-is (not JSON-encoded): for the invalid-JSON corruption."""
