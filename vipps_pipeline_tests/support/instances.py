"""Temporary Dagster instances configured as the project configures them."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import Any

import yaml


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
