"""Sharded code locations: ``attribute: shard_03`` in workspace.yaml loads shard 3 of
``VIPPS_SHARDS``.

Each location is its own process, so only the shard it names is built (lazily, through the
module's ``__getattr__``). ``python -m vipps_pipeline.shards`` prints a workspace.yaml for the
current ``VIPPS_SHARDS``.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Mapping

import dagster as dg

from vipps_pipeline.defs.partitions import Shard
from vipps_pipeline.settings import PipelineSettings

SHARDS_VAR = "VIPPS_SHARDS"
_ATTRIBUTE = re.compile(r"shard_(\d+)")


def shard_count(env: Mapping[str, str | None] | None = None) -> int:
    """``VIPPS_SHARDS``; a malformed value raises a SettingsError naming it."""
    raw = (os.environ if env is None else env).get(SHARDS_VAR)
    return PipelineSettings.from_env({SHARDS_VAR: raw}).shards


@functools.cache
def shard_defs(index: int, count: int) -> dg.Definitions:
    from vipps_pipeline.definitions import build_shard_defs, default_resources

    return build_shard_defs(Shard(index, count), default_resources())


def __getattr__(name: str) -> dg.Definitions:
    match = _ATTRIBUTE.fullmatch(name)
    if not match:
        raise AttributeError(name)
    count = shard_count()
    index = int(match.group(1))
    if count < 2 or index >= count:
        raise AttributeError(
            f"{name}: {SHARDS_VAR}={count} has no such shard (set {SHARDS_VAR} to the number of "
            "shard locations in workspace.yaml)"
        )
    return shard_defs(index, count)


def workspace_yaml(count: int) -> str:
    """The workspace with one code location per shard."""
    lines = ["load_from:"]
    for i in range(count):
        lines += [
            "  - python_module:",
            "      module_name: vipps_pipeline.shards",
            f"      attribute: shard_{i:02d}",
            f"      location_name: vipps_shard_{i:02d}",
            "      working_directory: .",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(workspace_yaml(shard_count()))
