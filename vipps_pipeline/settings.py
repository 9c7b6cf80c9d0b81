"""Every setting the pipeline reads, parsed and validated in one place.

Settings come from environment variables (Dagster resources receive them through
``dg.EnvVar``). A missing or malformed value raises :class:`SettingsError` with one line that
names the variable, before any request is made, so a misconfigured deployment fails loudly at
start-up instead of half-way through a backfill.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vipps_pipeline import __version__
from vipps_pipeline.objstore import DataDir, parse_data_dir, parse_storage_options

PRODUCTION_BASE_URL = "https://api.vipps.no"
FIRST_API_DATE = date(2020, 5, 1)
HEADER_MAX_LEN = 30
LEDGER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOPICS = ("funds", "fees")
"""The report topics the API serves for every ledger."""

# Documentation for every setting: (name, default shown to humans, meaning). The README table
# is checked against this list by a test, so the two cannot drift apart.
SETTINGS_DOC: tuple[tuple[str, str, str], ...] = (
    ("VIPPS_BASE_URL", PRODUCTION_BASE_URL, "API base URL (the simulator prints its own)"),
    ("VIPPS_KEY_TYPE", "merchant", "`merchant` (accesstoken/get) or `partner` (miami/v1/token)"),
    ("VIPPS_CLIENT_ID", "(required)", "client id of the API keys"),
    ("VIPPS_CLIENT_SECRET", "(required)", "client secret; never logged or stored"),
    ("VIPPS_SUBSCRIPTION_KEY", "(required for merchant keys)", "Ocp-Apim-Subscription-Key"),
    ("VIPPS_MERCHANT_SERIAL_NUMBER", "(none)", "Merchant-Serial-Number, merchant keys only"),
    ("VIPPS_INCLUDE_GDPR", "false", "also fetch and store `name`, `maskedPhoneNo`, `message`"),
    (
        "VIPPS_DATA_DIR",
        "data",
        "where Parquet files are written: a folder, or `s3://bucket/prefix` (see Object storage)",
    ),
    (
        "VIPPS_STORAGE_OPTIONS",
        "(none)",
        'JSON options for the object store\'s fsspec backend, e.g. `{"endpoint_url": ...}`',
    ),
    ("VIPPS_START_DATE", "2020-05-01", "first ledger date of the daily partitions"),
    ("VIPPS_TIMEZONE", "Europe/Oslo", "timezone of ledger dates and of the schedule"),
    (
        "VIPPS_PERSISTENT_404_DAYS",
        "7",
        "a 404 this many days after the date is an ERROR: the ledger may not be yours",
    ),
    ("VIPPS_STALE_DAYS", "62", "a ledger not final for this many days gets a freshness WARN"),
    (
        "VIPPS_MAX_CONSECUTIVE_ERRORS",
        "3",
        "a step stops after this many ledger-days fail in a row (outage)",
    ),
    (
        "VIPPS_SETTLEMENT",
        "(learned)",
        "per-ledger settlement override, e.g. `100001:net,100003:gross`",
    ),
    (
        "VIPPS_POLL_MINUTE",
        "17",
        "minute of every hour the sync sensor polls (11-59, never :00-:10)",
    ),
    (
        "VIPPS_SYNC_RUNS",
        "1",
        "the sync sensor splits its ledgers over this many runs at once (1-64; see Production)",
    ),
    (
        "VIPPS_JOURNAL_ACCOUNTS",
        "(built in)",
        "TOML chart of accounts for the journal (copy `vipps_pipeline/journal_accounts.toml`)",
    ),
    (
        "VIPPS_JOURNAL_DETAIL",
        "type",
        "journal lines per day and entry `type` (summed) or per `entry`",
    ),
    (
        "VIPPS_NOW",
        "(the clock)",
        "pretend it is this time (ISO 8601): for tests and replays against the simulator",
    ),
    ("VIPPS_SCHEDULE_TIME", "06:15", "daily schedule time in VIPPS_TIMEZONE"),
    ("VIPPS_LEDGER_REFRESH_SECONDS", "86400", "how often the sensor refreshes the ledger list"),
    ("VIPPS_FEE_WINDOW_DAYS", "3", "ledger dates within which a capture must get its fee"),
    (
        "VIPPS_MAX_PAGES",
        "20000",
        "page limit per report (more means a runaway cursor) and per feed pass (the next goes on)",
    ),
    (
        "VIPPS_FEED_START_DATE",
        "(VIPPS_START_DATE)",
        "first ledger date the feed stores (not before VIPPS_START_DATE); a new ledger's feed "
        "is read from its beginning (the feed takes no date) and earlier entries are skipped",
    ),
    (
        "VIPPS_FEED_POLL_SECONDS",
        "300",
        "shortest time between two feed passes of a ledger while entries keep coming (60+)",
    ),
    (
        "VIPPS_FEED_MAX_POLL_SECONDS",
        "1800",
        "a feed pass that finds nothing new doubles the ledger's interval, up to this",
    ),
    (
        "VIPPS_FEED_PRUNE",
        "true",
        "delete a closed date's provisional feed rows once they match its by-date report",
    ),
    (
        "VIPPS_SHARDS",
        "1",
        "split the ledgers over this many code locations, one per shard (docs/scale.md); read "
        "when a location loads",
    ),
    (
        "VIPPS_HTTP_TIMEOUT_SECONDS",
        "30",
        "deadline of one HTTP request: connect, headers and the whole body",
    ),
    (
        "VIPPS_MAX_BODY_BYTES",
        "67108864",
        "largest answer body read (64 MiB); a larger one fails its ledger-day",
    ),
    (
        "VIPPS_MAX_DAY_ENTRIES",
        "2000000",
        "most entries one ledger-day and topic may hold; with the page size it caps the pages",
    ),
    (
        "VIPPS_MAX_REQUESTS",
        "1000000",
        "most API requests one process (a sync or a run) makes; then every request fails",
    ),
    ("VIPPS_HTTP_RETRIES", "6", "retries of 429/5xx/network errors per request"),
    ("VIPPS_SYSTEM_NAME", "vipps-pipeline", "Vipps-System-Name header"),
    ("VIPPS_SYSTEM_VERSION", __version__, "Vipps-System-Version header"),
    ("VIPPS_PLUGIN_NAME", "vipps-pipeline-dagster", "Vipps-System-Plugin-Name header"),
    ("VIPPS_PLUGIN_VERSION", __version__, "Vipps-System-Plugin-Version header"),
)
DEFAULTS: dict[str, str] = {
    name: default for name, default, _ in SETTINGS_DOC if not default.startswith("(")
}
REMOVED_SETTINGS = {
    "VIPPS_NOT_READY_RETRIES": "runs no longer wait for a day that is not ready; the hourly "
    "sync is the retry",
    "VIPPS_NOT_READY_DELAY_SECONDS": "runs no longer wait for a day that is not ready",
    "VIPPS_LOOKBACK_DAYS": "there is no lookback window: every ledger is synced from its "
    "frontier, however old",
}
"""Settings of earlier versions that no longer do anything, and why (the CLI warns once)."""


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


def _get(env: Mapping[str, str | None], name: str) -> str:
    value = env.get(name)
    if value is None or str(value).strip() == "":
        return DEFAULTS.get(name, "")
    return str(value).strip()


def _required(env: Mapping[str, str | None], name: str, why: str = "") -> str:
    value = env.get(name)
    if value is None or str(value).strip() == "":
        raise SettingsError(f"{name} is not set{why}")
    return str(value).strip()


def _int(env: Mapping[str, str | None], name: str, lo: int, hi: int) -> int:
    raw = _get(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _choice(env: Mapping[str, str | None], name: str, choices: tuple[str, ...]) -> str:
    raw = _get(env, name).lower()
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _bool(env: Mapping[str, str | None], name: str) -> bool:
    raw = _get(env, name).lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def parse_base_url(raw: str, name: str = "VIPPS_BASE_URL") -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise SettingsError(
            f"{name} must be an http(s) URL such as {PRODUCTION_BASE_URL}, got {raw!r}"
        )
    return raw.rstrip("/")


def parse_timezone(raw: str, name: str = "VIPPS_TIMEZONE") -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{name} must be an IANA timezone such as Europe/Oslo, got {raw!r}"
        ) from None
    return raw


def parse_date(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a date YYYY-MM-DD, got {raw!r}") from None


def _datetime(env: Mapping[str, str | None], name: str) -> datetime | None:
    raw = _get(env, name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be an ISO 8601 time such as 2026-11-24T12:00+00:00, got {raw!r}"
        ) from None
    if value.tzinfo is None:
        raise SettingsError(f"{name} must include a UTC offset, got {raw!r}")
    return value


def validate_ledger_id(ledger_id: object, where: str = "ledger id") -> str:
    """Ledger ids end up in URLs and file paths: only a safe alphabet gets through."""
    if not isinstance(ledger_id, str) or not LEDGER_ID_RE.match(ledger_id):
        raise SettingsError(
            f"{where} {ledger_id!r} is not a valid ledger id "
            "(1-64 characters of A-Z, a-z, 0-9, '_' and '-')"
        )
    return ledger_id


SETTLEMENT_TYPES = ("net", "gross")


def parse_settlement(raw: str, name: str = "VIPPS_SETTLEMENT") -> dict[str, str]:
    """``LEDGER:net,LEDGER:gross``: the settlement type of a ledger, when learning it from the
    ledger's history is not wanted (a new ledger, or a change of agreement)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        ledger_id, _, kind = part.partition(":")
        if kind not in SETTLEMENT_TYPES:
            raise SettingsError(
                f"{name} must list LEDGER:net or LEDGER:gross separated by commas, got {part!r}"
            )
        out[validate_ledger_id(ledger_id.strip(), f"{name} names ledger")] = kind
    return out


SECRET_SETTINGS = (
    "VIPPS_CLIENT_ID",
    "VIPPS_CLIENT_SECRET",
    "VIPPS_SUBSCRIPTION_KEY",
    "VIPPS_MERCHANT_SERIAL_NUMBER",
)
"""Settings sent as HTTP headers: a control character in one would make the HTTP library print
the whole value in its error, so it is refused when read, naming the variable only."""


def check_header_secret(name: str, value: str | None) -> None:
    """One line naming ``name``, never the value: a trailing newline from a careless ``.env``
    is the usual culprit, and the header error it causes would echo the secret."""
    if value is not None and not (value.isascii() and value.isprintable()):
        raise SettingsError(
            f"{name} contains a control or non-ASCII character (often a trailing newline from "
            "a .env file); the value is not shown"
        )


def _header(env: Mapping[str, str | None], name: str) -> str:
    value = _get(env, name)
    if len(value) > HEADER_MAX_LEN:
        raise SettingsError(f"{name} must be at most {HEADER_MAX_LEN} characters, got {len(value)}")
    if not value.isprintable() or not value.isascii():
        raise SettingsError(f"{name} must be printable ASCII")
    return value


@dataclass(frozen=True)
class ApiSettings:
    """How to reach and authenticate against the Report API."""

    base_url: str
    key_type: str
    client_id: str
    client_secret: str = field(repr=False)
    subscription_key: str | None = field(default=None, repr=False)
    merchant_serial_number: str | None = None
    include_gdpr: bool = False
    timeout_seconds: int = 30
    http_retries: int = 6
    max_pages: int = 20000
    max_body_bytes: int = 64 * 1024 * 1024
    max_day_entries: int = 2_000_000
    max_requests: int = 1_000_000
    system_name: str = "vipps-pipeline"
    system_version: str = __version__
    plugin_name: str = "vipps-pipeline-dagster"
    plugin_version: str = __version__

    def __post_init__(self) -> None:
        values = (self.client_id, self.client_secret, self.subscription_key)
        for name, value in zip(
            SECRET_SETTINGS, (*values, self.merchant_serial_number), strict=True
        ):
            check_header_secret(name, value)

    @classmethod
    def from_env(cls, env: Mapping[str, str | None]) -> ApiSettings:
        for name in SECRET_SETTINGS:  # before any strip: a trailing newline is refused too
            raw = env.get(name)
            check_header_secret(name, None if raw is None else str(raw))
        key_type = _get(env, "VIPPS_KEY_TYPE").lower()
        if key_type not in {"merchant", "partner"}:
            raise SettingsError(f"VIPPS_KEY_TYPE must be 'merchant' or 'partner', got {key_type!r}")
        base_url = parse_base_url(_get(env, "VIPPS_BASE_URL"))
        client_id = _required(env, "VIPPS_CLIENT_ID")
        client_secret = _required(env, "VIPPS_CLIENT_SECRET")
        subscription_key = env.get("VIPPS_SUBSCRIPTION_KEY") or None
        msn = env.get("VIPPS_MERCHANT_SERIAL_NUMBER") or None
        if key_type == "merchant" and not subscription_key:
            raise SettingsError("VIPPS_SUBSCRIPTION_KEY is not set (required for merchant keys)")
        if key_type == "partner" and (subscription_key or msn):
            bad = "VIPPS_SUBSCRIPTION_KEY" if subscription_key else "VIPPS_MERCHANT_SERIAL_NUMBER"
            raise SettingsError(f"{bad} must not be set for partner keys (the API rejects it)")
        if msn is not None and not re.fullmatch(r"\d{1,10}", msn):
            raise SettingsError(f"VIPPS_MERCHANT_SERIAL_NUMBER must be digits, got {msn!r}")
        return cls(
            base_url=base_url,
            key_type=key_type,
            client_id=client_id,
            client_secret=client_secret,
            subscription_key=subscription_key,
            merchant_serial_number=msn,
            include_gdpr=_bool(env, "VIPPS_INCLUDE_GDPR"),
            timeout_seconds=_int(env, "VIPPS_HTTP_TIMEOUT_SECONDS", 1, 600),
            http_retries=_int(env, "VIPPS_HTTP_RETRIES", 0, 20),
            max_pages=_int(env, "VIPPS_MAX_PAGES", 1, 10_000_000),
            max_body_bytes=_int(env, "VIPPS_MAX_BODY_BYTES", 1024, 2**31),
            max_day_entries=_int(env, "VIPPS_MAX_DAY_ENTRIES", 1, 2**31 - 1),
            max_requests=_int(env, "VIPPS_MAX_REQUESTS", 1, 10**9),
            system_name=_header(env, "VIPPS_SYSTEM_NAME"),
            system_version=_header(env, "VIPPS_SYSTEM_VERSION"),
            plugin_name=_header(env, "VIPPS_PLUGIN_NAME"),
            plugin_version=_header(env, "VIPPS_PLUGIN_VERSION"),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line, file or metadata entry."""
        return tuple(s for s in (self.client_secret, self.subscription_key) if s)


@dataclass(frozen=True)
class PipelineSettings:
    """Where data goes and how the Dagster side schedules and retries."""

    data_dir: DataDir
    start_date: date
    timezone: str
    persistent_404_days: int
    stale_days: int
    max_consecutive_errors: int
    settlement: Mapping[str, str]
    poll_minute: int
    schedule_hour: int
    schedule_minute: int
    ledger_refresh_seconds: int
    fee_window_days: int
    journal_accounts: Path | None = None
    journal_per_entry: bool = False
    now_override: datetime | None = None
    feed_start_date: date | None = None
    feed_poll_seconds: int = 300
    feed_max_poll_seconds: int = 1800
    feed_prune: bool = True
    sync_runs: int = 1

    @property
    def feed_start(self) -> date:
        """The first ledger date the feed stores (VIPPS_FEED_START_DATE, else the start date)."""
        return self.feed_start_date or self.start_date

    def now(self) -> datetime:
        """The current time in VIPPS_TIMEZONE (VIPPS_NOW when set)."""
        tz = ZoneInfo(self.timezone)
        return (self.now_override or datetime.now(UTC)).astimezone(tz)

    def today(self) -> date:
        """Today's date in VIPPS_TIMEZONE: every date before it may be final."""
        return self.now().date()

    @classmethod
    def from_env(cls, env: Mapping[str, str | None]) -> PipelineSettings:
        start = parse_date(_get(env, "VIPPS_START_DATE"), "VIPPS_START_DATE")
        if start < FIRST_API_DATE:
            raise SettingsError(
                f"VIPPS_START_DATE must be on or after {FIRST_API_DATE} (the API's first date), "
                f"got {start}"
            )
        schedule = _get(env, "VIPPS_SCHEDULE_TIME")
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", schedule)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise SettingsError(f"VIPPS_SCHEDULE_TIME must be HH:MM, got {schedule!r}")
        options = parse_storage_options(_get(env, "VIPPS_STORAGE_OPTIONS"))
        data_dir = parse_data_dir(_get(env, "VIPPS_DATA_DIR"), options)
        raw_feed_start = _get(env, "VIPPS_FEED_START_DATE")
        feed_start = parse_date(raw_feed_start, "VIPPS_FEED_START_DATE") if raw_feed_start else None
        if feed_start is not None and feed_start < start:
            raise SettingsError(
                f"VIPPS_FEED_START_DATE must be on or after VIPPS_START_DATE ({start}): the "
                f"by-date reports confirm the feed's dates, got {feed_start}"
            )
        poll = _int(env, "VIPPS_FEED_POLL_SECONDS", 60, 86400)
        max_poll = _int(env, "VIPPS_FEED_MAX_POLL_SECONDS", 60, 86400)
        if max_poll < poll:
            raise SettingsError(
                f"VIPPS_FEED_MAX_POLL_SECONDS must be at least VIPPS_FEED_POLL_SECONDS ({poll}), "
                f"got {max_poll}"
            )
        return cls(
            data_dir=data_dir,
            start_date=start,
            timezone=parse_timezone(_get(env, "VIPPS_TIMEZONE")),
            persistent_404_days=_int(env, "VIPPS_PERSISTENT_404_DAYS", 1, 3650),
            stale_days=_int(env, "VIPPS_STALE_DAYS", 1, 3650),
            max_consecutive_errors=_int(env, "VIPPS_MAX_CONSECUTIVE_ERRORS", 1, 100),
            settlement=parse_settlement(_get(env, "VIPPS_SETTLEMENT")),
            poll_minute=_int(env, "VIPPS_POLL_MINUTE", 11, 59),
            schedule_hour=int(match[1]),
            schedule_minute=int(match[2]),
            ledger_refresh_seconds=_int(env, "VIPPS_LEDGER_REFRESH_SECONDS", 60, 30 * 86400),
            fee_window_days=_int(env, "VIPPS_FEE_WINDOW_DAYS", 1, 31),
            journal_accounts=Path(accounts)
            if (accounts := _get(env, "VIPPS_JOURNAL_ACCOUNTS"))
            else None,
            journal_per_entry=_choice(env, "VIPPS_JOURNAL_DETAIL", ("type", "entry")) == "entry",
            now_override=_datetime(env, "VIPPS_NOW"),
            feed_start_date=feed_start,
            feed_poll_seconds=poll,
            feed_max_poll_seconds=max_poll,
            feed_prune=_bool(env, "VIPPS_FEED_PRUNE"),
            sync_runs=_int(env, "VIPPS_SYNC_RUNS", 1, 64),
        )
