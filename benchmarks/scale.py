"""B4: 100 ledgers x 3 years of partitions: load, the sync sensor, the UI's partition status."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from benchmarks.run import REPO, TODAY, free_port

QUERY = """{ assetNodeOrError(assetKey: {path: ["funds_report"]}) { ... on AssetNode {
  assetPartitionStatuses { ... on MultiPartitionStatuses { primaryDimensionName ranges {
    primaryDimStartKey primaryDimEndKey secondaryDim { ... on DefaultPartitionStatuses {
      materializedPartitions failedPartitions } } } } } } } }"""

MEASURE = """
import json, time, warnings
warnings.filterwarnings("ignore")
t = time.perf_counter()
import dagster as dg
from vipps_pipeline.definitions import defs
defs.resolve_asset_graph()
load = time.perf_counter() - t
instance = dg.DagsterInstance.get()
sensor = defs.resolve_sensor_def("vipps_sync_sensor")
context = dg.build_sensor_context(
    instance=instance, resources={"pipeline": defs.resources["pipeline"]})
t = time.perf_counter()
result = sensor(context)
auto = time.perf_counter() - t
config = getattr(result, "run_config", None) or {}
ledgers = len(config.get("ops", {}).get("sync_ledgers", {}).get("config", {}).get("ledgers", []))
print(json.dumps({"load": load, "automation": auto, "requested": ledgers}))
"""


def b4(n_ledgers: int, n_days: int) -> list[list[str]]:
    start = TODAY - timedelta(days=n_days)
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {**os.environ, "DAGSTER_HOME": home, "VIPPS_START_DATE": start.isoformat()}
        ids = [str(300001 + i) for i in range(n_ledgers)]
        register = (
            "import dagster as dg; "
            f"dg.DagsterInstance.get().add_dynamic_partitions('ledgers', {ids!r})"
        )
        subprocess.run([sys.executable, "-c", register], env=env, check=True, cwd=REPO)
        out = subprocess.run(
            [sys.executable, "-c", MEASURE],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        port = free_port()
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster_webserver",
                "-m",
                "vipps_pipeline.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                    break
                except OSError:
                    time.sleep(0.2)
            timings = []
            for _ in range(3):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql",
                    data=json.dumps({"query": QUERY}).encode(),
                    headers={"Content-Type": "application/json"},
                )
                t = time.perf_counter()
                body = json.loads(urllib.request.urlopen(request, timeout=300).read())
                timings.append(time.perf_counter() - t)
            ok = "errors" not in body and body["data"]["assetNodeOrError"] is not None
        finally:
            web.kill()
    partitions = n_ledgers * (n_days + 1)
    ui = sorted(timings)[1]
    return [
        [
            f"B4 partition scale, {n_ledgers} ledgers x {n_days} days "
            f"({partitions:,} partitions per asset)",
            f"load definitions {measured['load']:.1f} s; one sync-sensor evaluation "
            f"{measured['automation']:.1f} s ({measured['requested']:,} ledgers to sync; "
            "nothing stored yet); "
            f"UI partition-status query {ui:.2f} s (median of 3, answered: {ok})",
            "target: each under 5 s",
        ]
    ]
