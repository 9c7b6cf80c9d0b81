"""Resources: every field is one ``VIPPS_*`` setting, validated in vipps_pipeline.settings.

Run config is written by whoever can launch a run (the UI, GraphQL), so it must not decide
where credentials are sent or where files are written. The settings that do (the API's base
URL and key type, the credentials, the data location, the chart of accounts, the clock, and
everything that shapes partitions and schedules) are therefore not config fields at all: they
live in a :class:`Deployment` passed as a nested resource, which Dagster keeps out of the run
config schema, so a run that names one is refused by config validation before it starts.
Only a few bounded tuning knobs stay config fields.

No ``from __future__ import annotations`` here: Dagster recognises the nested resource only
from an evaluated ``dg.ResourceDependency`` annotation.
"""

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import dagster as dg

from vipps_pipeline.client import ReportClient
from vipps_pipeline.settings import ApiSettings, PipelineSettings, SettingsError


def settings_failure(exc: SettingsError) -> dg.Failure:
    """A bad setting fails the step at once with its one-line message (no retries)."""
    return dg.Failure(description=str(exc), allow_retries=False)


def env_name(field: str) -> str:
    """``client_secret`` is VIPPS_CLIENT_SECRET: one naming rule for fields and variables."""
    return f"VIPPS_{field.upper()}"


class Deployment:
    """Settings only the deployment decides: values given in code when the code location
    loads, else the environment of the process that executes the step.

    It is a plain object, not config: Dagster wraps it as a resource without a config schema,
    so no run can set or see it, and it never reaches run storage. Its repr names variables
    only, because Dagster and pydantic print resources in errors.
    """

    def __init__(self, values: Mapping[str, str | None] | None = None) -> None:
        self._values = MappingProxyType({k: v for k, v in (values or {}).items() if v})

    def get(self, name: str) -> str | None:
        value = self._values.get(name)
        if isinstance(value, dg.EnvVar):  # e.g. client_secret=dg.EnvVar("MY_SECRET") in code
            value = value.get_value()
        return value or os.environ.get(name)

    def with_values(self, values: Mapping[str, str | None]) -> "Deployment":
        return Deployment({**self._values, **values})

    def __repr__(self) -> str:
        return f"Deployment(set in code: {sorted(self._values)})"


class _EnvBacked(dg.ConfigurableResource):
    """Deployment settings come from :class:`Deployment`; the remaining fields are the run's knobs.

    Keyword arguments named after a deployment setting (``base_url=...``) are accepted in code,
    where the deployment builds its resources, and moved into the :class:`Deployment`; run
    config cannot reach this constructor with them, because validation against the schema
    (the knobs only) comes first.
    """

    DEPLOYMENT_ONLY: ClassVar[tuple[str, ...]] = ()
    deployment: dg.ResourceDependency[Deployment]

    def __init__(self, **data: Any) -> None:
        deployment = data.pop("deployment", None) or Deployment()
        fixed = {env_name(k): data.pop(k) for k in self.DEPLOYMENT_ONLY if k in data}
        super().__init__(deployment=deployment.with_values(fixed), **data)

    @classmethod
    def run_knobs(cls) -> tuple[str, ...]:
        """The fields a run may set, bounded when parsed in vipps_pipeline.settings.

        They are whole numbers: Dagster lets run config read any environment variable into a
        field (``{env: NAME}``), and for an int field it refuses a non-number without showing
        it, so a knob cannot carry a secret string into an error message or the event log."""
        return tuple(name for name in cls.model_fields if name != "deployment")

    def as_env(self) -> dict[str, str | None]:
        env = {env_name(name): self.deployment.get(env_name(name)) for name in self.DEPLOYMENT_ONLY}
        for name in self.run_knobs():
            value = getattr(self, name)
            env[env_name(name)] = os.environ.get(env_name(name)) if value is None else str(value)
        return env

    @classmethod
    def from_env(cls) -> Any:
        """The resource as deployed: every setting, knobs included, is read in the step's own
        environment, so run storage holds none of them unless a run sets a knob."""
        return cls()


class ReportApiResource(_EnvBacked):
    """Connection and credentials for the Report API."""

    DEPLOYMENT_ONLY: ClassVar[tuple[str, ...]] = (
        "base_url",
        "key_type",
        "client_id",
        "client_secret",
        "subscription_key",
        "merchant_serial_number",
        "include_gdpr",
        "system_name",
        "system_version",
        "plugin_name",
        "plugin_version",
    )
    http_timeout_seconds: int | None = None
    http_retries: int | None = None
    max_pages: int | None = None

    def settings(self) -> ApiSettings:
        try:
            return ApiSettings.from_env(self.as_env())
        except SettingsError as exc:
            raise settings_failure(exc) from None

    def get_client(self) -> ReportClient:
        return ReportClient(self.settings())


class PipelineResource(_EnvBacked):
    """Where data goes and how not-ready days and fee windows are treated."""

    DEPLOYMENT_ONLY: ClassVar[tuple[str, ...]] = (
        "data_dir",
        "storage_options",
        "journal_accounts",
        "journal_detail",
        "now",
        "start_date",
        "timezone",
        "settlement",
        "persistent_404_days",
        "poll_minute",
        "schedule_time",
        "ledger_refresh_seconds",
        "feed_start_date",
        "feed_poll_seconds",
        "feed_max_poll_seconds",
        "feed_prune",
        "sync_runs",
    )
    stale_days: int | None = None
    max_consecutive_errors: int | None = None
    fee_window_days: int | None = None

    def settings(self) -> PipelineSettings:
        try:
            return PipelineSettings.from_env(self.as_env())
        except SettingsError as exc:
            raise settings_failure(exc) from None
