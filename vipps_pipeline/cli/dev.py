"""``dev``: the Dagster UI (webserver and daemon) against the embedded simulator.

Nothing to configure: a free port, a simulator on loopback, and ``dagster dev`` as a child
process whose environment points at both; the simulator stops when the child does.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

DEV_WARNINGS = "ignore:Function `dev_command` is superseded"
"""`dagster dev` announces that `dg dev` supersedes it; `dg` is a separate tool this project
does not need, so the notice is only noise in the first minute."""


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _announce_when_up(url: str, port: int) -> None:
    """Print the UI's address once the webserver answers (Dagster's own line is buried)."""
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            time.sleep(0.5)
            continue
        print(f"\n  Dagster UI: {url}   (Ctrl-C to stop)\n", flush=True)
        return


def cmd_dev(args: argparse.Namespace) -> int:
    """The Dagster UI against the embedded simulator: nothing to configure."""
    from vipps_pipeline.cli.runs import dagster_home
    from vipps_pipeline.defs import BOOKKEEPING_ENV
    from vipps_pipeline.simulator import Simulator, World

    port = args.port
    if port is None:
        port = next(p for p in range(3000, 3100) if _free(p))
    elif not _free(port):
        print(f"error: --port {port} is in use; choose another, or leave it out", file=sys.stderr)
        return 2
    sim = Simulator(World(seed=args.seed), port=args.sim_port).start()
    start = datetime.now(ZoneInfo("Europe/Oslo")).date() - timedelta(days=args.days)
    env = {**BOOKKEEPING_ENV, **os.environ, **sim.env("merchant")}
    env.setdefault("VIPPS_START_DATE", start.isoformat())
    env["DAGSTER_HOME"] = str(dagster_home(args.dagster_home))
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), DEV_WARNINGS]))
    url = f"http://127.0.0.1:{port}"
    print(f"Simulator on {sim.base_url}; partitions from {env['VIPPS_START_DATE']}")
    print(f"Starting Dagster (webserver and daemon) on {url} ...")
    threading.Thread(target=_announce_when_up, args=(url, port), daemon=True).start()
    command = [sys.executable, "-m", "dagster", "dev", "-m", "vipps_pipeline.definitions"]
    try:
        return subprocess.call([*command, "-h", "127.0.0.1", "-p", str(port)], env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        sim.stop()
