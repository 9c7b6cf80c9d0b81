"""Shared fixtures: a real simulator on loopback with a pinned clock, and clients for it."""

from __future__ import annotations

import os
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings
from vipps_pipeline.simulator import Faults, Simulator, World
from vipps_pipeline_tests.support.clock import CLOSED_DAY, LEDGER_IDS, NOW, days
from vipps_pipeline_tests.support.instances import embedded_instance

__all__ = ["CLOSED_DAY", "LEDGER_IDS", "NOW", "days", "embedded_instance"]

# every simulated World in this process builds each day once (tests read days, never change them)
World.shared_history = OrderedDict()


def pytest_configure(config: pytest.Config) -> None:
    """``VIPPS_TEST_DAYS_AHEAD=N`` runs the suite as if it were N days later (wall clock only,
    in the test processes; timeouts and sleeps keep the real monotonic clock), to show that no
    test reads today's date: every test pins its clock through ``NOW`` or ``VIPPS_NOW``."""
    ahead = int(os.environ.get("VIPPS_TEST_DAYS_AHEAD") or 0)
    if ahead:
        import time_machine

        traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=ahead), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The few tests that take minutes run first: with ``--dist load`` (the slow tier in
    .ci/run) the first tests go to the workers in turn, so two of them never queue behind each
    other on one worker while the other runs out of work."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@event.listens_for(Engine, "connect")
def _sqlite_without_fsync(dbapi_connection: object, _record: object) -> None:
    """Dagster's SQLite storages in the test process commit without a flush to disk: most of a
    Dagster test's waiting, on shared CI disks. Safe for every test, the killed-writer ones
    included: a killed process loses nothing the OS already holds (only a power cut would)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture(autouse=True)
def _fsync(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """No flush to disk on atomic writes (most of a fast test's waiting), except in tests marked
    ``fsync``: those kill a writer and check what it left."""
    if request.node.get_closest_marker("fsync") is None:
        monkeypatch.setenv("VIPPS_FSYNC", "0")
    else:
        monkeypatch.delenv("VIPPS_FSYNC", raising=False)


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
