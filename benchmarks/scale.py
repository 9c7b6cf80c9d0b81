"""B4: 100 ledgers x 3 years of partitions: load, automation, and the UI's partition status."""

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
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
instance = dg.DagsterInstance.get()
when = datetime.now(ZoneInfo("Europe/Oslo")).replace(minute=5, second=0, microsecond=0)
first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when)
t = time.perf_counter()
second = dg.evaluate_automation_conditions(defs=defs, instance=instance,
    evaluation_time=when + timedelta(minutes=15), cursor=first.cursor)
auto = time.perf_counter() - t
print(json.dumps({"load": load, "automation": auto, "requested": second.total_requested}))
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
            f"load definitions {measured['load']:.1f} s; one automation evaluation "
            f"{measured['automation']:.1f} s ({measured['requested']:,} partitions requested); "
            f"UI partition-status query {ui:.2f} s (median of 3, answered: {ok})",
            "target: each under 5 s",
        ]
    ]
