"""Shared fixtures: a real simulator on loopback with a pinned clock, and clients for it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings
from vipps_pipeline.simulator import Faults, Simulator, World

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
"""The simulator's clock in tests: every date up to 2026-11-22 is closed on daily ledgers."""
CLOSED_DAY = date(2026, 11, 20)
LEDGER_IDS = ["100001", "100002", "100003", "100004", "100005", "100006", "100007"]


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


@contextmanager
def embedded_instance(overrides: dict[str, Any] | None = None, plain: bool = False):
    """A temporary Dagster instance configured as the embedded default is (``dagster.yaml``
    written by ``headless.dagster_home``: the batching SQLite event log); ``plain`` for
    Dagster's own SQLite storage."""
    import dagster as dg

    from vipps_pipeline.instance.event_log import dagster_yaml

    with tempfile.TemporaryDirectory() as home:
        config = {} if plain else yaml.safe_load(dagster_yaml(home))
        with dg.instance_for_test(temp_dir=home, overrides={**config, **(overrides or {})}) as i:
            yield i


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(World(seed=0), clock=lambda: NOW) as s:
        yield s


@pytest.fixture
def make_client(sim: Simulator) -> Callable[..., ReportClient]:
    def make(key_type: str = "merchant", **overrides: str) -> ReportClient:
        env = {**sim.env(key_type), "VIPPS_HTTP_RETRIES": "6", **overrides}
        return ReportClient(ApiSettings.from_env(env))

    return make


@pytest.fixture
def client(make_client: Callable[..., ReportClient]) -> ReportClient:
    return make_client("merchant")


@pytest.fixture
def faults(sim: Simulator) -> Faults:
    return sim.world.faults
