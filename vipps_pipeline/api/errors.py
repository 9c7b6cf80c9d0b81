"""Every way the Report API can fail, each its own type because each calls for its own answer.

Credentials rejected stop everything, a forbidden ledger only that ledger, a day not final yet
is retried later with nothing stored, and a malformed answer stores nothing for its day: callers
tell them apart by type, never by parsing a message.
"""

from __future__ import annotations

from datetime import date


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


class BadReport(ValueError):
    """The API answered with something that is not a valid report page."""

    def __init__(self, ledger_id: str, topic: str, ledger_date: date | str, problem: str) -> None:
        self.ledger_id, self.topic, self.ledger_date, self.problem = (
            ledger_id,
            topic,
            str(ledger_date),
            problem,
        )
        super().__init__(f"ledger {ledger_id}, {topic}, {ledger_date}: {problem}")

    @classmethod
    def at(cls, ctx: tuple[str, str, str], problem: str) -> BadReport:
        """The page checks carry (ledger, topic, ISO date) as one tuple through every helper."""
        return cls(ctx[0], ctx[1], ctx[2], problem)


class DuplicateKey(ValueError):
    """A JSON object names the same key twice: decoders keep the last one silently, so
    ``"tryLater": true, "tryLater": false`` would read as a final day and ``"amount": 100,
    "amount": 999`` as 999."""
