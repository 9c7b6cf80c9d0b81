"""Every setting the pipeline reads: each declared once, as a field of one of three models.

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

from vipps_pipeline.domain import TOPICS
from vipps_pipeline.settings.alerts import AlertSettings
from vipps_pipeline.settings.api import ApiSettings
from vipps_pipeline.settings.pipeline import PipelineSettings
from vipps_pipeline.settings.types import (
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
    "BankCsvColumns",
    "BaseUrl",
    "Boolean",
    "FromEnv",
    "HeaderText",
    "JournalDetail",
    "KeyType",
    "Now",
    "OptionalDate",
    "PipelineSettings",
    "ScheduleTime",
    "SerialNumber",
    "SettingsError",
    "Settlement",
    "StartDate",
    "Timezone",
    "env_name",
    "is_secret",
    "parse_base_url",
    "parse_date",
    "parse_now",
    "parse_settlement",
    "parse_timezone",
    "secret_settings",
    "setting",
    "settings_table",
    "shown_default",
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
