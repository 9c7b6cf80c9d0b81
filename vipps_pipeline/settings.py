"""Every setting the pipeline reads: each declared once, as a field of one of two models.

A field holds everything about its ``VIPPS_*`` variable: type, bounds, default, description and
whether it is a secret. Parsing, the one-line errors, the docs' settings table
(``docs/configuration.md``, checked by a test) and the resources all come from these fields, so
they cannot drift apart. Settings come from the deployment's environment (the Dagster resources
read them in the step, see vipps_pipeline.defs.resources); run config can set only the fields
marked ``run_knob``, all bounded numbers. A missing or malformed value raises
:class:`SettingsError` with one line that names the variable, before any request is made, so a
misconfigured deployment fails at start-up instead of half-way through a backfill.
Secret values are ``SecretStr``: they never appear in a repr, an error or a log line.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, model_validator

from vipps_pipeline import __version__
from vipps_pipeline.domain import TOPICS
from vipps_pipeline.settings_types import (
    FIRST_API_DATE,
    HEADER_MAX_LEN,
    LEDGER_ID_RE,
    PRODUCTION_BASE_URL,
    SETTLEMENT_TYPES,
    BankCsvColumns,
    BaseUrl,
    Boolean,
    FromEnv,
    HeaderText,
    JournalDetail,
    KeyType,
    Now,
    OptionalDate,
    ScheduleTime,
    SerialNumber,
    SettingsError,
    Settlement,
    StartDate,
    Timezone,
    env_name,
    is_secret,
    parse_base_url,
    parse_date,
    parse_now,
    parse_settlement,
    parse_timezone,
    setting,
    shown_default,
    validate_ledger_id,
)
from vipps_pipeline.store.objstore import DataDir, parse_data_dir, parse_storage_options

__all__ = [
    "FIRST_API_DATE",
    "HEADER_MAX_LEN",
    "LEDGER_ID_RE",
    "PRODUCTION_BASE_URL",
    "REMOVED_SETTINGS",
    "SETTINGS_DOC",
    "SETTLEMENT_TYPES",
    "TOPICS",
    "AlertSettings",
    "ApiSettings",
    "PipelineSettings",
    "SettingsError",
    "parse_base_url",
    "parse_date",
    "parse_now",
    "parse_settlement",
    "parse_timezone",
    "settings_table",
    "validate_ledger_id",
]

REMOVED_SETTINGS = {
    "VIPPS_NOT_READY_RETRIES": "runs no longer wait for a day that is not ready; the hourly "
    "sync is the retry",
    "VIPPS_NOT_READY_DELAY_SECONDS": "runs no longer wait for a day that is not ready",
    "VIPPS_LOOKBACK_DAYS": "there is no lookback window: every ledger is synced from its "
    "frontier, however old",
}
"""Settings of earlier versions that no longer do anything, and why (the CLI warns once)."""


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


class PipelineSettings(FromEnv):
    """Where data goes and how the Dagster side schedules and retries."""

    data_location: str = setting(
        "data",
        "where Parquet files are written: a folder, or a URL such as `s3://bucket/prefix` (see "
        "[Object storage](operations.md#object-storage))",
        env="VIPPS_DATA_DIR",
    )
    storage_options: SecretStr | None = setting(
        None,
        "JSON object passed to the object store's fsspec backend, e.g. "
        '`{"endpoint_url": "http://127.0.0.1:9000"}`',
        shown="(none)",
        repr=False,
    )
    start_date: StartDate = setting("2020-05-01", "first ledger date of the daily partitions")
    timezone: Timezone = setting("Europe/Oslo", "timezone of ledger dates and of the schedule")
    persistent_404_days: int = setting(
        7,
        "a 404 this many days after the date is an ERROR: the ledger may not be yours",
        ge=1,
        le=3650,
    )
    stale_days: int = setting(
        62,
        "a ledger not final for this many days gets a freshness WARN",
        ge=1,
        le=3650,
        run_knob=True,
    )
    max_consecutive_errors: int = setting(
        3,
        "a step stops after this many ledger-days fail in a row (outage)",
        ge=1,
        le=100,
        run_knob=True,
    )
    settlement: Settlement = setting(
        "", "per-ledger settlement override, e.g. `100001:net,100003:gross`", shown="(learned)"
    )
    poll_minute: int = setting(
        17, "minute of every hour the sync sensor polls (11-59, never :00-:10)", ge=11, le=59
    )
    sync_runs: int = setting(
        1,
        "the sync sensor splits its ledgers over this many runs at once (1-64; see "
        "[operations.md](operations.md))",
        ge=1,
        le=64,
    )
    journal_accounts: Path | None = setting(
        None,
        "TOML chart of accounts for the journal (copy "
        "`vipps_pipeline/books/journal_accounts.toml`)",
        shown="(built in)",
    )
    journal_detail: JournalDetail = setting(
        "type", "journal lines per day and entry `type` (summed) or per `entry`"
    )
    now_override: Now = setting(
        None,
        "pretend it is this time (ISO 8601): for tests and replays against the simulator",
        shown="(the clock)",
        env="VIPPS_NOW",
    )
    schedule_time: ScheduleTime = setting("06:15", "daily schedule time in VIPPS_TIMEZONE")
    ledger_refresh_seconds: int = setting(
        86400, "how often the sensor refreshes the ledger list", ge=60, le=30 * 86400
    )
    fee_window_days: int = setting(
        3,
        "ledger dates within which a capture must get its fee",
        ge=1,
        le=31,
        run_knob=True,
    )
    feed_start_date: OptionalDate = setting(
        None,
        "first ledger date the feed stores (not before VIPPS_START_DATE); a new ledger's feed "
        "is read from its beginning (the feed takes no date) and earlier entries are skipped",
        shown="(VIPPS_START_DATE)",
    )
    feed_poll_seconds: int = setting(
        300,
        "shortest time between two feed passes of a ledger while entries keep coming (60+)",
        ge=60,
        le=86400,
    )
    feed_max_poll_seconds: int = setting(
        1800,
        "a feed pass that finds nothing new doubles the ledger's interval, up to this",
        ge=60,
        le=86400,
    )
    feed_prune: Boolean = setting(
        "true", "delete a closed date's provisional feed rows once they match its by-date report"
    )
    payout_grace_days: int = setting(
        3,
        "banking days after its ledger date a payout may take to reach the bank before it is "
        "`missing` ([bank.md](bank.md))",
        ge=1,
        le=30,
    )
    bank_csv_columns: BankCsvColumns = setting(
        "",
        "the bank CSV's column of each field, e.g. `booking_date=Dato,amount=Beløp,text=Tekst` "
        "(fields: booking_date, amount, currency, text, account)",
        shown="(the field names)",
    )
    table_retention_days: int = setting(
        30,
        "days of history the tables keep for `query --as-of` after compaction "
        "([tables.md](tables.md))",
        ge=1,
        le=3650,
    )
    shards: int = setting(
        1,
        "split the ledgers over this many code locations, one per shard "
        "([scale.md](scale.md)); read when a location loads",
        ge=1,
        le=999,
    )

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSettings:
        start, feed_start = self.start_date, self.feed_start_date
        if feed_start is not None and feed_start < start:
            raise SettingsError(
                f"VIPPS_FEED_START_DATE must be on or after VIPPS_START_DATE ({start}): the "
                f"by-date reports confirm the feed's dates, got {feed_start}"
            )
        if self.feed_max_poll_seconds < self.feed_poll_seconds:
            raise SettingsError(
                "VIPPS_FEED_MAX_POLL_SECONDS must be at least VIPPS_FEED_POLL_SECONDS "
                f"({self.feed_poll_seconds}), got {self.feed_max_poll_seconds}"
            )
        _ = self.data_dir  # a bad data directory or storage options fails here, at start-up
        return self

    @cached_property
    def data_dir(self) -> DataDir:
        """VIPPS_DATA_DIR with VIPPS_STORAGE_OPTIONS: a local path or an object-store path."""
        secret = self.storage_options
        options = parse_storage_options(secret.get_secret_value() if secret else "")
        return parse_data_dir(self.data_location, options)

    @property
    def schedule_hour(self) -> int:
        return int(self.schedule_time.split(":")[0])

    @property
    def schedule_minute(self) -> int:
        return int(self.schedule_time.split(":")[1])

    @property
    def journal_per_entry(self) -> bool:
        return self.journal_detail == "entry"

    @property
    def feed_start(self) -> date:
        """The first ledger date the feed stores (VIPPS_FEED_START_DATE, else the start date)."""
        return self.feed_start_date or self.start_date

    def now(self) -> datetime:
        """The current time in VIPPS_TIMEZONE (VIPPS_NOW when set)."""
        from zoneinfo import ZoneInfo

        return (self.now_override or datetime.now(UTC)).astimezone(ZoneInfo(self.timezone))

    def today(self) -> date:
        """Today's date in VIPPS_TIMEZONE: every date before it may be final."""
        return self.now().date()


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


SETTINGS_DOC: tuple[tuple[str, str, str], ...] = tuple(
    (env_name(name, info), shown_default(info), info.description or "")
    for model in (ApiSettings, PipelineSettings, AlertSettings)
    for name, info in model.model_fields.items()
)
"""(variable, default as shown, meaning) for every setting, in declaration order."""


def settings_table() -> str:
    """The docs' settings table, generated from the declarations (``docs/configuration.md``)."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for name, shown, meaning in SETTINGS_DOC:
        default = shown if shown.startswith("(") else f"`{shown}`"
        rows.append(f"| `{name}` | {default} | {meaning} |")
    return "\n".join(rows) + "\n"


def secret_settings() -> tuple[str, ...]:
    """Variables whose values never appear anywhere (errors, logs, files, run storage)."""
    return tuple(
        env_name(name, info)
        for model in (ApiSettings, PipelineSettings, AlertSettings)
        for name, info in model.model_fields.items()
        if is_secret(info)
    )


if __name__ == "__main__":  # python -m vipps_pipeline.settings: print the docs' table
    print(settings_table(), end="")
