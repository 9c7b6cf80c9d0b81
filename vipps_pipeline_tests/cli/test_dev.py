"""Issue 24: ``dev`` owns its process tree, commands beside it find its simulator and instance by
themselves (``.vipps-dev.json``), and a missing setting fails before any Dagster run exists."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vipps_pipeline.cli.dev import descendants, running
from vipps_pipeline.cli.devfile import DEV_FILE, write_dev_file
from vipps_pipeline.simulator import Simulator
from vipps_pipeline_tests.support.cli import cli
from vipps_pipeline_tests.support.clock import NOW


def runs_in(home: Path) -> int:
    """How many runs the Dagster instance in ``home`` holds (what the UI's Runs page lists)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.get_runs_count()


def refused_before_any_run(result, home: Path, line: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [line], result.stderr[-2000:]
    assert result.stdout == ""
    assert not home.exists() or runs_in(home) == 0, "a run was created"


@pytest.mark.parametrize(
    "argv", [["feed"], ["sync"], ["run", "--start", "2026-11-01", "--end", "2026-11-05"]]
)
def test_a_missing_credential_fails_before_any_run(tmp_path: Path, argv: list[str]):
    # was: "error: ledgers: VIPPS_CLIENT_ID is not set", exit 1, two failed runs in the UI
    home = tmp_path / "home"
    env = {"VIPPS_NOW": NOW.isoformat(), "VIPPS_START_DATE": "2026-11-01"}
    result = cli(*argv, "--dagster-home", str(home), cwd=tmp_path, env=env)
    refused_before_any_run(result, home, "error: VIPPS_CLIENT_ID is not set")


def _dev_file_for(sim: Simulator, folder: Path) -> Path:
    """What a running ``dev`` writes: this test process stands in for it (its pid is alive)."""
    env = {**sim.env("merchant"), "VIPPS_START_DATE": "2026-11-20"}
    env["DAGSTER_HOME"] = str(folder / "devhome")
    return write_dev_file(folder, env, "http://127.0.0.1:3999")


def test_the_feed_beside_dev_uses_its_simulator_and_instance(sim: Simulator, tmp_path: Path):
    path = _dev_file_for(sim, tmp_path)
    body = json.loads(path.read_text())
    assert "not secrets" in body["comment"] and body["pid"] == os.getpid()
    result = cli("feed", cwd=tmp_path, env={"VIPPS_NOW": NOW.isoformat()})
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    assert result.stderr.splitlines()[0] == (
        f"using the dev simulator {sim.base_url} and Dagster home {tmp_path / 'devhome'} of "
        f"`vipps-pipeline dev` (pid {os.getpid()}, from {DEV_FILE})"
    )
    assert result.stdout.startswith("Feed run ") and "(succeeded)" in result.stdout
    assert f"data in {tmp_path / 'data'}" in result.stdout
    assert runs_in(tmp_path / "devhome") >= 1, "the run is in dev's instance, shown in its UI"
    answer = cli("query", "select count(*) as n from ledgers", "--csv", cwd=tmp_path)
    assert answer.returncode == 0 and answer.stdout.splitlines() == ["n", "7"], answer.stderr


@pytest.mark.parametrize("why", ["an API is configured", "dev is gone"])
def test_the_dev_file_is_not_used(sim: Simulator, tmp_path: Path, why: str):
    path = _dev_file_for(sim, tmp_path)
    env = {"VIPPS_NOW": NOW.isoformat()}
    if why == "an API is configured":
        env["VIPPS_BASE_URL"] = sim.base_url
    else:
        body = json.loads(path.read_text())
        dead = subprocess.Popen(["true"])
        dead.wait()
        path.write_text(json.dumps({**body, "pid": dead.pid}))
    home = tmp_path / "home"
    result = cli("feed", "--dagster-home", str(home), cwd=tmp_path, env=env)
    refused_before_any_run(result, home, "error: VIPPS_CLIENT_ID is not set")
    assert not (tmp_path / "devhome").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_dev_stops_every_process_it_started(tmp_path: Path, sig: signal.Signals):
    # was: SIGTERM ended only dev and the simulator; dagster dev, the webserver, the daemon and
    # the code server kept running and the UI kept answering on its port
    port = _free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "VIPPS_NOW": NOW.isoformat(),
        "VIPPS_START_DATE": "2026-11-20",
    }
    command = [sys.executable, "-m", "vipps_pipeline.cli", "dev", "--port", str(port)]
    log = (tmp_path / "dev.log").open("w")
    dev = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not _answers(port):
            assert dev.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the UI never answered"
            time.sleep(0.5)
        dev_file = json.loads((tmp_path / DEV_FILE).read_text())
        assert dev_file["pid"] == dev.pid and dev_file["ui"] == f"http://127.0.0.1:{port}"
        sim_port = int(dev_file["env"]["VIPPS_BASE_URL"].rsplit(":", 1)[1])
        time.sleep(5)  # the code server and the daemon are up by now
        tree = descendants(dev.pid)
        assert len(tree) >= 3, "dagster dev, its webserver and its daemon"
        dev.send_signal(sig)
        deadline = time.monotonic() + 15
        while (alive := {p for p in tree | {dev.pid} if running(p)}) or _answers(port):
            dev.poll()
            assert time.monotonic() < deadline, f"still alive: {alive}; port answers"
            time.sleep(0.2)
        assert dev.wait(timeout=5) == 0
        assert not _answers(sim_port), "the simulator stopped"
        assert not (tmp_path / DEV_FILE).exists(), "dev deletes its file on exit"
    finally:
        if dev.poll() is None:
            dev.kill()
        log.close()
