"""Where data goes and how runs schedule, retry and check, each setting declared once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path

from pydantic import SecretStr, model_validator

from vipps_pipeline.settings.types import (
    BankCsvColumns,
    Boolean,
    FromEnv,
    JournalDetail,
    Now,
    OptionalDate,
    ScheduleTime,
    SettingsError,
    Settlement,
    StartDate,
    Timezone,
    setting,
)
from vipps_pipeline.store.objstore import DataDir, parse_data_dir, parse_storage_options
from vipps_pipeline.store.processes import usable_cores

AUTO_SYNC_RUNS = 4
"""The most runs VIPPS_SYNC_RUNS=0 starts: each run is a process of about 300 MB, and past
the cores more runs only queue (B7: 4 runs on 2 cores were no faster than 2)."""


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
        0,
        "a sync (the sensor's or `vipps-pipeline sync`) splits its ledgers over this many runs "
        "at once; 0: one per core, at most 4 (0-64; see [scale.md](scale.md))",
        shown="(0: one per core)",
        ge=0,
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

    def runs_for(self, ledgers: int) -> int:
        """How many runs a sync of ``ledgers`` ledgers splits into: VIPPS_SYNC_RUNS, or one
        per usable core (a run's engine keeps one core busy; B7 in docs/scale.md), at most
        :data:`AUTO_SYNC_RUNS`, and never more runs than ledgers."""
        wanted = self.sync_runs or min(AUTO_SYNC_RUNS, usable_cores())
        return max(1, min(wanted, ledgers))

    def now(self) -> datetime:
        """The current time in VIPPS_TIMEZONE (VIPPS_NOW when set)."""
        from zoneinfo import ZoneInfo

        return (self.now_override or datetime.now(UTC)).astimezone(ZoneInfo(self.timezone))

    def today(self) -> date:
        """Today's date in VIPPS_TIMEZONE: every date before it may be final."""
        return self.now().date()
