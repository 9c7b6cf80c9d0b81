"""B4: 100 ledgers x 3 years of partitions: load, the sync sensor, the UI's partition status.

The sync sensor is the project's automation: each tick plans every ledger from the names and
modification times of its stored files. It is timed twice: with nothing stored, and with every
ledger-day of every ledger stored (empty stand-in files, derived ones newer than the reports as
a run writes them), which is its steady state after a backfill."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.run import REPO, TODAY, child, free_port

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
# a `with` block: the resources hold a nested resource, which Dagster sets up as a context
with dg.build_sensor_context(
        instance=instance, resources={"pipeline": defs.resources["pipeline"]}) as context:
    t = time.perf_counter()
    result = sensor(context)
    auto = time.perf_counter() - t
# the next tick in the same process, as the code location server runs them (a new context:
# a sensor's cursor is per tick)
with dg.build_sensor_context(
        instance=instance, resources={"pipeline": defs.resources["pipeline"]}) as context:
    t = time.perf_counter()
    sensor(context)
    again = time.perf_counter() - t
requests = result if isinstance(result, list) else []
ledgers = sum(len(r.run_config["ops"]["sync_ledgers"]["config"]["ledgers"]) for r in requests)
print(json.dumps({"load": load, "automation": auto, "again": again, "requested": ledgers}))
"""


def fill(data: Path, ledger_ids: list[str], dates: list[date]) -> int:
    """Every ledger-day file of every ledger, a zero-row Parquet file (the planner reads each
    footer once), with the modification times a run leaves (reports, then statements,
    findings and journal, each later than what it is derived from)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vipps_pipeline.store.paths import DAY_KINDS, day_path
    from vipps_pipeline.store.schemas import REPORT_SCHEMA

    sink = pa.BufferOutputStream()
    pq.write_table(REPORT_SCHEMA.empty_table(), sink)
    empty = sink.getvalue().to_pybytes()

    order = {"reports/funds": 0, "reports/fees": 0, "statements": 1, "reconciliation": 2}
    base = time.time_ns() - 10**12
    n = 0
    for ledger in ledger_ids:
        for kind in DAY_KINDS:
            at = base + order.get(kind, 2) * 10**9
            for d in dates:
                path = Path(day_path(data, kind, ledger, d))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(empty)
                os.utime(path, ns=(at, at))
                n += 1
    for folder in [p for p in data.rglob("*") if p.is_dir()]:  # settled, as after a backfill
        os.utime(folder, ns=(base + 3 * 10**9,) * 2)
    return n


def b4(n_ledgers: int, n_days: int) -> list[list[str]]:
    start = TODAY - timedelta(days=n_days)
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        data = Path(home, "data")
        env = {
            **os.environ,
            "DAGSTER_HOME": home,
            "VIPPS_START_DATE": start.isoformat(),
            "VIPPS_DATA_DIR": str(data),
            # past this hour's poll minute, whatever VIPPS_POLL_MINUTE is: the tick polls
            "VIPPS_NOW": datetime.combine(TODAY, datetime.min.time())
            .replace(hour=12, minute=59, tzinfo=ZoneInfo("Europe/Oslo"))
            .isoformat(),
        }
        ids = [str(300001 + i) for i in range(n_ledgers)]
        register = (
            "import dagster as dg; "
            f"dg.DagsterInstance.get().add_dynamic_partitions('ledgers', {ids!r})"
        )
        subprocess.run([sys.executable, "-c", register], env=env, check=True, cwd=REPO)
        measured = child(MEASURE, env)
        # every day stored up to the day before yesterday: each ledger has one day to sync
        dates = [start + timedelta(days=k) for k in range(n_days - 1)]
        files = fill(data, ids, dates)
        ticks = [child(MEASURE, env) for _ in range(3)]
        stored = sorted(ticks, key=lambda m: m["automation"])[1]
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
            f"nothing stored yet); with {files:,} ledger-day files stored, the first tick of a "
            f"process {stored['automation']:.2f} s and the next {stored['again']:.2f} s "
            f"(median of 3; {stored['requested']:,} ledgers with a day to sync); "
            f"UI partition-status query {ui:.2f} s (median of 3, answered: {ok})",
            "target: each under 5 s",
        ]
    ]
