"""Resources: every field is one ``VIPPS_*`` setting, validated in vipps_pipeline.settings."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from vipps_pipeline.client import ReportClient
from vipps_pipeline.settings import ApiSettings, PipelineSettings, SettingsError


def settings_failure(exc: SettingsError) -> dg.Failure:
    """A bad setting fails the step at once with its one-line message (no retries)."""
    return dg.Failure(description=str(exc), allow_retries=False)


class _EnvBacked(dg.ConfigurableResource):
    """Fields map to environment variables by name: ``client_secret`` is VIPPS_CLIENT_SECRET.

    A field left unset falls back to the variable in the process that executes the step, so a
    run launched by the daemon reads the environment it was deployed with.
    """

    def as_env(self) -> dict[str, str | None]:
        return {
            (var := f"VIPPS_{name.upper()}"): getattr(self, name) or os.environ.get(var)
            for name in type(self).model_fields
        }

    @classmethod
    def from_env(cls) -> Any:
        """Pass each set variable as ``dg.EnvVar`` so run storage keeps names, never values."""
        return cls(
            **{
                name: dg.EnvVar(f"VIPPS_{name.upper()}")
                for name in cls.model_fields
                if os.environ.get(f"VIPPS_{name.upper()}")
            }
        )


class ReportApiResource(_EnvBacked):
    """Connection and credentials for the Report API."""

    base_url: str | None = None
    key_type: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    subscription_key: str | None = None
    merchant_serial_number: str | None = None
    include_gdpr: str | None = None
    http_timeout_seconds: str | None = None
    http_retries: str | None = None
    max_pages: str | None = None
    max_body_bytes: str | None = None
    max_day_entries: str | None = None
    max_requests: str | None = None
    system_name: str | None = None
    system_version: str | None = None
    plugin_name: str | None = None
    plugin_version: str | None = None

    def settings(self) -> ApiSettings:
        try:
            return ApiSettings.from_env(self.as_env())
        except SettingsError as exc:
            raise settings_failure(exc) from None

    def get_client(self) -> ReportClient:
        return ReportClient(self.settings())


class PipelineResource(_EnvBacked):
    """Where data goes and how not-ready days and fee windows are treated."""

    data_dir: str | None = None
    storage_options: str | None = None
    start_date: str | None = None
    timezone: str | None = None
    persistent_404_days: str | None = None
    stale_days: str | None = None
    max_consecutive_errors: str | None = None
    settlement: str | None = None
    poll_minute: str | None = None
    schedule_time: str | None = None
    ledger_refresh_seconds: str | None = None
    fee_window_days: str | None = None
    journal_accounts: str | None = None
    journal_detail: str | None = None
    now: str | None = None
    feed_start_date: str | None = None
    feed_poll_seconds: str | None = None
    feed_max_poll_seconds: str | None = None
    feed_prune: str | None = None
    sync_runs: str | None = None

    def settings(self) -> PipelineSettings:
        try:
            return PipelineSettings.from_env(self.as_env())
        except SettingsError as exc:
            raise settings_failure(exc) from None
