"""``.vipps-dev.json``: how commands run beside ``dev`` find its simulator, instance and data.

``dev`` writes the file in the folder it runs in and deletes it when it stops; ``sync``,
``feed``, ``run``, ``query`` and ``report`` started in the same folder read it when the
environment names no API of its own, so the README's next command talks to the dev simulator and
shows up in the same UI instead of failing on a missing VIPPS_CLIENT_ID (or, worse, reaching the
real API). The credentials in it are the simulator's fixed demo keys, which open nothing else:
they are not secrets, and the file says so. A file left by a ``dev`` that was killed outright is
ignored because its process is gone.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from vipps_pipeline.store.processes import pid_alive

DEV_FILE = ".vipps-dev.json"

API_VARIABLES = (
    "VIPPS_BASE_URL",
    "VIPPS_CLIENT_ID",
    "VIPPS_CLIENT_SECRET",
    "VIPPS_SUBSCRIPTION_KEY",
    "VIPPS_KEY_TYPE",
)
"""Any of these in the environment means the user configured an API: the file is not used."""

SHARED_VARIABLES = (
    *API_VARIABLES,
    "VIPPS_MERCHANT_SERIAL_NUMBER",
    "VIPPS_START_DATE",
    "VIPPS_DATA_DIR",
    "DAGSTER_HOME",
)
"""What ``dev`` hands on: the simulator, its demo keys, the partitions' start, data and home."""

COMMENT = (
    "Written by `vipps-pipeline dev` (pid {pid}) and deleted when it stops, so that commands run "
    "in this folder (sync, feed, run, query, report) use its simulator, Dagster instance and data "
    "folder. The credentials are the local simulator's demo keys, not secrets: they open nothing "
    "but the simulator on 127.0.0.1. Commands ignore this file when VIPPS_BASE_URL or another API "
    "variable is set in their environment."
)


def write_dev_file(folder: Path, env: Mapping[str, str], ui_url: str) -> Path:
    """Record what ``dev`` started (called once the simulator runs, before the UI starts)."""
    data_dir = env.get("VIPPS_DATA_DIR") or str((folder / "data").resolve())
    shared = {name: env[name] for name in SHARED_VARIABLES if env.get(name)}
    shared["VIPPS_DATA_DIR"] = data_dir
    body = {
        "comment": COMMENT.format(pid=os.getpid()),
        "pid": os.getpid(),
        "ui": ui_url,
        "env": shared,
    }
    path = folder / DEV_FILE
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def remove_dev_file(path: Path) -> None:
    """Delete the file if it is still the one this process wrote (another ``dev`` may own it)."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def use_dev_file(folder: Path, environ: MutableMapping[str, str]) -> bool:
    """Fill ``environ`` from a running ``dev``'s file in ``folder`` and say so in one line on
    stderr (stdout stays the command's own, e.g. CSV); False when there is nothing to use."""
    if any(environ.get(name) for name in API_VARIABLES):
        return False
    try:
        body = json.loads((folder / DEV_FILE).read_text())
    except (OSError, ValueError):
        return False
    shared = body.get("env") if isinstance(body, dict) else None
    if not isinstance(shared, dict) or not pid_alive(body.get("pid")):
        return False
    for name in SHARED_VARIABLES:
        value = shared.get(name)
        if isinstance(value, str) and value and not environ.get(name):
            environ[name] = value
    print(
        f"using the dev simulator {environ.get('VIPPS_BASE_URL')} and Dagster home "
        f"{environ.get('DAGSTER_HOME')} of `vipps-pipeline dev` (pid {body['pid']}, "
        f"from {DEV_FILE})",
        file=sys.stderr,
        flush=True,
    )
    return True
