"""Where alerts go and how they link to the UI, each setting declared once (docs/alerts.md)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, model_validator

from vipps_pipeline.settings.types import (
    FromEnv,
    SettingsError,
    setting,
)


class AlertSettings(FromEnv):
    """Where alerts go (each destination optional) and how they link to the UI (docs/alerts.md)."""

    alert_webhook_url: SecretStr | None = setting(
        None,
        'incoming webhook taking JSON `{"text": ...}` (Slack, Mattermost, Teams); a secret',
        shown="(none)",
        repr=False,
    )
    alert_email_to: str | None = setting(None, "e-mail alerts to (comma-separated)", shown="(none)")
    smtp_host: str | None = setting(None, "SMTP server of the e-mail alerts", shown="(none)")
    smtp_port: int = setting(587, "SMTP port (587 STARTTLS, 465 TLS)", ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = setting(
        "starttls", "`starttls` (required of the server), `tls` (port 465) or `none` (local relay)"
    )
    smtp_user: str | None = setting(None, "SMTP login (none: no login)", shown="(none)")
    smtp_password: SecretStr | None = setting(
        None, "SMTP password; never logged or stored", shown="(none)", repr=False
    )
    smtp_from: str | None = setting(None, "sender of the e-mail alerts", shown="(VIPPS_SMTP_USER)")
    ui_url: str | None = setting(None, "the Dagster UI's address, for links", shown="(no links)")

    @model_validator(mode="after")
    def _destinations_complete(self) -> AlertSettings:
        url = self.alert_webhook_url
        if url is not None and urlsplit(url.get_secret_value()).scheme not in ("http", "https"):
            raise SettingsError("VIPPS_ALERT_WEBHOOK_URL must be an http(s) URL")
        if self.alert_email_to and not self.smtp_host:
            raise SettingsError("VIPPS_SMTP_HOST is not set (required for VIPPS_ALERT_EMAIL_TO)")
        if self.smtp_password is not None and not self.smtp_user:
            raise SettingsError("VIPPS_SMTP_USER is not set (required with VIPPS_SMTP_PASSWORD)")
        return self
