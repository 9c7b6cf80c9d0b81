"""E-mail alerts against a local SMTP server (aiosmtpd) on 127.0.0.1: STARTTLS before the
login by default, refused without it, and the password never in the mail."""

from __future__ import annotations

from datetime import date

import pytest

from vipps_pipeline.alerts.notify import alert_pass
from vipps_pipeline.settings import AlertSettings
from vipps_pipeline_tests.support.alerting import LEDGER, pipeline, register, store_findings
from vipps_pipeline_tests.support.receivers import self_signed, smtp_server

PASSWORD = "smtp-pw-5e4d3c"


@pytest.fixture
def cert(tmp_path_factory, monkeypatch):
    """A certificate for 127.0.0.1 that the client trusts (OpenSSL reads SSL_CERT_FILE)."""
    pair = self_signed(tmp_path_factory.mktemp("tls"))
    monkeypatch.setenv("SSL_CERT_FILE", str(pair[0]))
    return pair


def email_settings(port: int, **more: str) -> AlertSettings:
    return AlertSettings.from_env(
        {
            "VIPPS_ALERT_EMAIL_TO": "finance@example.com, ops@example.com",
            "VIPPS_SMTP_HOST": "127.0.0.1",
            "VIPPS_SMTP_PORT": str(port),
            "VIPPS_SMTP_USER": "alerts@example.com",
            "VIPPS_SMTP_PASSWORD": PASSWORD,
            **more,
        }
    )


def test_an_email_alert_goes_out_over_starttls_once(tmp_path, cert):
    register(tmp_path)
    store_findings(tmp_path, date(2026, 11, 20), broken=True)
    with smtp_server(cert) as (inbox, port):
        first = alert_pass(email_settings(port), pipeline(tmp_path), [LEDGER])
        second = alert_pass(email_settings(port), pipeline(tmp_path), [LEDGER])
    assert first.delivered == {"e-mail": 1} and not second.delivered
    [mail] = inbox.messages
    assert inbox.logins == [("alerts@example.com", PASSWORD)]  # after STARTTLS (aiosmtpd insists)
    assert mail["Subject"] == "vipps_pipeline: 1 new problem"
    assert mail["To"] == "finance@example.com, ops@example.com"
    assert mail["From"] == "alerts@example.com"
    body = mail.get_payload(decode=True).decode()
    assert "ledger 100001 (ACME Fitness) · ledger date 2026-11-20" in body
    assert PASSWORD not in b"".join(inbox.raw).decode()
    assert PASSWORD not in (tmp_path / "alerts" / "sent.json").read_text()


def test_a_server_without_starttls_gets_nothing(tmp_path):
    register(tmp_path)
    store_findings(tmp_path, date(2026, 11, 20), broken=True)
    with smtp_server() as (inbox, port):
        result = alert_pass(email_settings(port), pipeline(tmp_path), [LEDGER])
    assert result.failed == {"e-mail": "SMTP server does not offer STARTTLS; nothing sent"}
    assert inbox.messages == [] and inbox.logins == []


def test_a_local_relay_without_tls_when_asked(tmp_path):
    register(tmp_path)
    store_findings(tmp_path, date(2026, 11, 20), broken=True)
    with smtp_server() as (inbox, port):
        settings = AlertSettings.from_env(
            {
                "VIPPS_ALERT_EMAIL_TO": "finance@example.com",
                "VIPPS_SMTP_HOST": "127.0.0.1",
                "VIPPS_SMTP_PORT": str(port),
                "VIPPS_SMTP_SECURITY": "none",
            }
        )
        result = alert_pass(settings, pipeline(tmp_path), [LEDGER])
    assert result.delivered == {"e-mail": 1}
    assert inbox.messages[0]["From"] == "vipps-pipeline@localhost"
