"""The two destinations: an incoming webhook and e-mail, each tried a few times, briefly.

A destination that is down must never fail the sync nor hold it up: each has a short timeout
and a bounded number of attempts (urllib3's ``Retry`` for the webhook, a short loop for SMTP),
and the caller stops trying for a while after a failure (:mod:`.notify`). What is not
delivered stays in the sent-record and goes out with the next pass.

The webhook URL and the SMTP password are secrets: no error raised here carries either, nor
any text of the library's exception (a ``requests`` error quotes the URL).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import time
from collections.abc import Iterator
from email.message import EmailMessage
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vipps_pipeline.settings import AlertSettings

WEBHOOK_TIMEOUT = (3.05, 5.0)
"""(connect, read) seconds of one webhook POST."""
WEBHOOK_RETRY = Retry(
    total=2,
    backoff_factor=0.5,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=frozenset({"POST"}),
    respect_retry_after_header=False,  # a long Retry-After would hold the sync up
    raise_on_status=False,
    redirect=0,
)
"""Three attempts at most, 0.5 s and 1 s apart: worst case about 20 s for a silent host."""
SMTP_TIMEOUT = 5.0
SMTP_ATTEMPTS = 3


URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry")
"""urllib3 logs the request path of every retry (WARNING) and request (DEBUG): for a webhook,
the path is the secret."""


class DeliveryFailed(Exception):
    """A destination did not take the message; the text names no secret."""


class _Scrub(logging.Filter):
    """Replaces the given values in every record of the loggers it is attached to."""

    def __init__(self, hidden: tuple[str, ...]) -> None:
        super().__init__()
        self.hidden = hidden

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if any(h in text for h in self.hidden):
            for h in self.hidden:
                text = text.replace(h, "***")
            record.msg, record.args = text, ()
        return True


@contextlib.contextmanager
def _urllib3_quiet_about(url: str) -> Iterator[None]:
    """While posting, urllib3's log records show the webhook's path as ``***``."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    scrub = _Scrub(tuple(h for h in (url, path) if len(h) > 1))
    loggers = [logging.getLogger(name) for name in URLLIB3_LOGGERS]
    for logger in loggers:
        logger.addFilter(scrub)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(scrub)


def post_webhook(url: str, text: str) -> None:
    """One POST of ``{"text": text}``; redirects are refused, not followed (a redirect could
    send the message, and the URL's secret path, elsewhere)."""
    with requests.Session() as session, _urllib3_quiet_about(url):
        session.mount("http://", HTTPAdapter(max_retries=WEBHOOK_RETRY))
        session.mount("https://", HTTPAdapter(max_retries=WEBHOOK_RETRY))
        try:
            response = session.post(
                url, json={"text": text}, timeout=WEBHOOK_TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise DeliveryFailed(f"webhook not reachable ({type(exc).__name__})") from None
    if 300 <= response.status_code < 400:
        raise DeliveryFailed(
            f"webhook answered a redirect (HTTP {response.status_code}), not followed"
        )
    if response.status_code >= 400:
        raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")


def email_message(settings: AlertSettings, subject: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.smtp_from or settings.smtp_user or "vipps-pipeline@localhost"
    msg["To"] = ", ".join(
        a.strip() for a in (settings.alert_email_to or "").split(",") if a.strip()
    )
    msg.set_content(text)
    return msg


def _smtp_once(settings: AlertSettings, msg: EmailMessage) -> None:
    context = ssl.create_default_context()
    host, port = settings.smtp_host or "", settings.smtp_port
    if settings.smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
    with smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)  # refuses a server that does not offer it
        if settings.smtp_user:
            password = settings.smtp_password
            smtp.login(settings.smtp_user, password.get_secret_value() if password else "")
        smtp.send_message(msg)


def send_email(settings: AlertSettings, subject: str, text: str) -> None:
    """One e-mail to VIPPS_ALERT_EMAIL_TO; a lost connection or a 4xx answer is tried again
    (up to :data:`SMTP_ATTEMPTS`), a refusal (5xx, no STARTTLS, bad login) is not."""
    msg = email_message(settings, subject, text)
    for attempt in range(SMTP_ATTEMPTS):
        try:
            _smtp_once(settings, msg)
            return
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code < 400 or exc.smtp_code >= 500 or attempt == SMTP_ATTEMPTS - 1:
                raise DeliveryFailed(f"SMTP server answered {exc.smtp_code}") from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryFailed("SMTP server does not offer STARTTLS; nothing sent") from None
        except (smtplib.SMTPException, OSError) as exc:
            if attempt == SMTP_ATTEMPTS - 1:
                raise DeliveryFailed(f"SMTP server not reachable ({type(exc).__name__})") from None
        time.sleep(0.5 * 2**attempt)
