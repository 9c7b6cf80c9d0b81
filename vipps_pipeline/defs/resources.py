"""Resources: the settings of vipps_pipeline.settings, read in the step, parsed once per step.

Run config is written by whoever can launch a run (the UI, GraphQL), so it must not decide
where credentials are sent or where files are written. The settings that do (the API's base
URL and key type, the credentials, the data location, the chart of accounts, the clock, and
everything that shapes partitions and schedules) are therefore not config fields at all: they
live in a :class:`Deployment` passed as a nested resource, which Dagster keeps out of the run
config schema, so a run that names one is refused by config validation before it starts.
Only the settings declared ``run_knob`` (bounded numbers) stay config fields; a test keeps the
fields here equal to those declarations.

No ``from __future__ import annotations`` here: Dagster recognises the nested resource only
from an evaluated ``dg.ResourceDependency`` annotation.
"""

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import dagster as dg
from pydantic import PrivateAttr

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings, PipelineSettings, SettingsError
from vipps_pipeline.settings.types import FromEnv


def settings_failure(exc: SettingsError) -> dg.Failure:
    """A bad setting fails the step at once with its one-line message (no retries)."""
    return dg.Failure(description=str(exc), allow_retries=False)


def variable_for(name: str) -> str:
    """``client_secret`` is VIPPS_CLIENT_SECRET, ``data_dir`` VIPPS_DATA_DIR: keyword arguments
    in code name the variable, as the docs do."""
    return f"VIPPS_{name.upper()}"


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

    SETTINGS: ClassVar[type[FromEnv]]
    deployment: dg.ResourceDependency[Deployment]
    _parsed: Any = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        deployment = data.pop("deployment", None) or Deployment()
        only = set(self.deployment_only())
        fixed = {variable_for(k): data.pop(k) for k in list(data) if variable_for(k) in only}
        super().__init__(deployment=deployment.with_values(fixed), **data)

    @classmethod
    def deployment_only(cls) -> tuple[str, ...]:
        """Variables only the deployment sets: every declared setting that is not a knob."""
        knobs = set(cls.SETTINGS.run_knobs())
        return tuple(var for field, var in cls.SETTINGS.env_names().items() if field not in knobs)

    @classmethod
    def run_knobs(cls) -> tuple[str, ...]:
        """The fields a run may set, bounded when parsed in vipps_pipeline.settings.

        They are whole numbers: Dagster lets run config read any environment variable into a
        field (``{env: NAME}``), and for an int field it refuses a non-number without showing
        it, so a knob cannot carry a secret string into an error message or the event log."""
        return cls.SETTINGS.run_knobs()

    def as_env(self) -> dict[str, str | None]:
        env = {var: self.deployment.get(var) for var in self.deployment_only()}
        for name in self.run_knobs():
            value = getattr(self, name)
            env[variable_for(name)] = (
                os.environ.get(variable_for(name)) if value is None else str(value)
            )
        return env

    def parsed(self) -> Any:
        """The settings, parsed once per resource instance (a step): every later call is free."""
        if self._parsed is None:
            try:
                self._parsed = self.SETTINGS.from_env(self.as_env())
            except SettingsError as exc:
                raise settings_failure(exc) from None
        return self._parsed

    @classmethod
    def from_env(cls) -> Any:
        """The resource as deployed: every setting, knobs included, is read in the step's own
        environment, so run storage holds none of them unless a run sets a knob."""
        return cls()


class ReportApiResource(_EnvBacked):
    """Connection and credentials for the Report API."""

    SETTINGS: ClassVar[type[FromEnv]] = ApiSettings
    http_timeout_seconds: int | None = None
    http_retries: int | None = None
    max_pages: int | None = None

    def settings(self) -> ApiSettings:
        return self.parsed()

    def get_client(self) -> ReportClient:
        return ReportClient(self.settings())


class PipelineResource(_EnvBacked):
    """Where data goes and how not-ready days and fee windows are treated."""

    SETTINGS: ClassVar[type[FromEnv]] = PipelineSettings
    stale_days: int | None = None
    max_consecutive_errors: int | None = None
    fee_window_days: int | None = None

    def settings(self) -> PipelineSettings:
        return self.parsed()
