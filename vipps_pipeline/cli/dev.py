"""``dev``: the Dagster UI (webserver and daemon) against the embedded simulator.

Nothing to configure: a free port, a simulator on loopback, and ``dagster dev`` as a child
process whose environment points at both; the simulator stops when the child does.

``dev`` owns its process tree: ``dagster dev`` starts in a session of its own (so its webserver,
daemon, code server and run workers share one process group), and SIGTERM, SIGINT, SIGHUP or
the interpreter's exit end that group and every descendant, SIGKILL after a short grace, so no
webserver keeps answering on the port after ``dev`` is gone. While it runs, ``.vipps-dev.json``
tells commands started in the same folder where the simulator and instance are
(:mod:`vipps_pipeline.cli.devfile`).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo

from vipps_pipeline.cli.devfile import remove_dev_file, write_dev_file

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


GRACE_SECONDS = 8.0
"""How long ``dagster dev`` and its children get to shut down cleanly before SIGKILL."""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
"""kill, Ctrl-C (only ``dev`` is in the terminal's process group) and a closed terminal."""


class _Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGINT to leave the wait and stop the tree."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc), found before any of them is reparented."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal_all(pids: set[int], pgid: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited child waiting to be reaped is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to ``dagster dev``, which shuts its webserver, daemon and code server down in
    order (a code server signalled directly dies mid-call with tracebacks); SIGKILL to the group
    and every descendant still there after the grace (a run worker, or a webserver that would
    otherwise keep the port)."""
    tree = descendants(proc.pid) | {proc.pid}
    with contextlib.suppress(OSError):
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        proc.poll()
        tree = {pid for pid in tree | descendants(proc.pid) if running(pid)}
        if not tree:
            return
        time.sleep(0.1)
    _signal_all(tree | descendants(proc.pid), proc.pid, signal.SIGKILL)
    proc.wait()


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
    dev_file = write_dev_file(Path.cwd(), env, url)
    print(f"Simulator on {sim.base_url}; partitions from {env['VIPPS_START_DATE']}")
    print(f"Starting Dagster (webserver and daemon) on {url} ...")
    threading.Thread(target=_announce_when_up, args=(url, port), daemon=True).start()
    command = [sys.executable, "-m", "dagster", "dev", "-m", "vipps_pipeline.definitions"]
    proc: subprocess.Popen[bytes] | None = None
    try:
        for sig in STOP_SIGNALS:
            signal.signal(sig, _on_signal)
        proc = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port)], env=env, start_new_session=True
        )
        atexit.register(stop_tree, proc)
        return proc.wait()
    except (KeyboardInterrupt, _Stop):
        print("\nStopping Dagster and the simulator ...", flush=True)
        return 0
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        if proc is not None:
            stop_tree(proc)
            atexit.unregister(stop_tree)
        remove_dev_file(dev_file)
        sim.stop()
