"""How to reach and authenticate against the Report API: its settings, declared once."""

from __future__ import annotations

from pydantic import SecretStr, model_validator

from vipps_pipeline import __version__
from vipps_pipeline.settings.types import (
    PRODUCTION_BASE_URL,
    BaseUrl,
    Boolean,
    FromEnv,
    HeaderText,
    KeyType,
    SerialNumber,
    SettingsError,
    setting,
)


class ApiSettings(FromEnv):
    """How to reach and authenticate against the Report API."""

    base_url: BaseUrl = setting(PRODUCTION_BASE_URL, "API base URL (the simulator prints its own)")
    key_type: KeyType = setting(
        "merchant", "`merchant` (accesstoken/get) or `partner` (miami/v1/token)"
    )
    client_id: str = setting(description="client id of the API keys", shown="(required)")
    client_secret: SecretStr = setting(
        description="client secret; never logged or stored", shown="(required)", repr=False
    )
    subscription_key: SecretStr | None = setting(
        None, "Ocp-Apim-Subscription-Key", shown="(required for merchant keys)", repr=False
    )
    merchant_serial_number: SerialNumber = setting(
        None, "Merchant-Serial-Number, merchant keys only", shown="(none)"
    )
    include_gdpr: Boolean = setting(
        "false", "also fetch and store `name`, `maskedPhoneNo`, `message`"
    )
    http_timeout_seconds: int = setting(
        30,
        "deadline of one HTTP request: connect, headers and the whole body",
        ge=1,
        le=600,
        run_knob=True,
    )
    max_body_bytes: int = setting(
        64 * 1024 * 1024,
        "largest answer body read (64 MiB); a larger one fails its ledger-day",
        ge=1024,
        le=2**31,
    )
    max_day_entries: int = setting(
        2_000_000,
        "most entries one ledger-day and topic may hold; with the page size it caps the pages",
        ge=1,
        le=2**31 - 1,
    )
    max_requests: int = setting(
        1_000_000,
        "most API requests one process (a sync or a run) makes; then every request fails",
        ge=1,
        le=10**9,
    )
    http_retries: int = setting(
        6, "retries of 429/5xx/network errors per request", ge=0, le=20, run_knob=True
    )
    max_pages: int = setting(
        20000,
        "page limit per report (more means a runaway cursor) and per feed pass (the next goes on)",
        ge=1,
        le=10_000_000,
        run_knob=True,
    )
    system_name: HeaderText = setting("vipps-pipeline", "Vipps-System-Name header")
    system_version: HeaderText = setting(__version__, "Vipps-System-Version header")
    plugin_name: HeaderText = setting("vipps-pipeline-dagster", "Vipps-System-Plugin-Name header")
    plugin_version: HeaderText = setting(__version__, "Vipps-System-Plugin-Version header")

    @classmethod
    def header_secrets(cls) -> tuple[str, ...]:
        """Sent as HTTP headers: a control character would make the HTTP library echo them."""
        return ("client_id", "client_secret", "subscription_key", "merchant_serial_number")

    @model_validator(mode="after")
    def _keys_fit_the_key_type(self) -> ApiSettings:
        if self.key_type == "merchant" and not self.subscription_key:
            raise SettingsError("VIPPS_SUBSCRIPTION_KEY is not set (required for merchant keys)")
        if self.key_type == "partner" and (self.subscription_key or self.merchant_serial_number):
            bad = (
                "VIPPS_SUBSCRIPTION_KEY"
                if self.subscription_key
                else "VIPPS_MERCHANT_SERIAL_NUMBER"
            )
            raise SettingsError(f"{bad} must not be set for partner keys (the API rejects it)")
        return self

    @property
    def subscription_key_value(self) -> str:
        """The subscription key as the header sends it ("" for partner keys)."""
        return self.subscription_key.get_secret_value() if self.subscription_key else ""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line, file or metadata entry."""
        return tuple(s.get_secret_value() for s in (self.client_secret, self.subscription_key) if s)
