"""B4 on a POPULATED instance: the UI's partition status and one automation evaluation when
every ledger-day of every ledger has recorded materializations, unsharded and sharded.

An empty instance says nothing about this: the costs are the materialized-partition scan, the
status cache Dagster keeps per asset (one serialized subset of every materialized key) and the
subsets automation computes from it.

How the instance is populated (``populate``): a PostgreSQL database of its own, the ledgers
registered through Dagster, then one ``ASSET_MATERIALIZATION`` row per asset x ledger x day
written with ``COPY`` into ``event_logs`` (each row's ``event`` is the serialized
``EventLogEntry`` Dagster itself would write, with its run id, partition, timestamp and a few
metadata entries). One more materialization per asset goes through
``report_runless_asset_event`` so ``asset_keys`` points at the latest event as it does after
real runs, and the status cache is then built by Dagster's own code
(``get_and_update_asset_status_cache_value``), as the daemon or the first UI visit would. What
it leaves out: planned-materialization events and ``asset_event_tags`` rows (neither is read by
the cached status path), check evaluations and run records.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.run import REPO, TODAY, free_port

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAtc"]
ASSETS = ("funds_report", "fees_report", "daily_statements", "journal", "reconciliation")
QUERY = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) {
  ... on AssetNode { assetPartitionStatuses { ... on MultiPartitionStatuses {
    primaryDimensionName ranges { primaryDimStartKey primaryDimEndKey secondaryDim {
      ... on DefaultPartitionStatuses { materializedPartitions failedPartitions } } } } } } } }"""
CONDITIONS = {
    # /work/shared/dagster-notes.md: re-request missing recent days hourly
    "notes": """
from datetime import timedelta
import dagster as dg
condition = (
    dg.AutomationCondition.in_latest_time_window(lookback_delta=timedelta(days=7))
    & dg.AutomationCondition.missing()
    & ~dg.AutomationCondition.in_progress()
    & dg.AutomationCondition.cron_tick_passed("17 * * * *", "Europe/Oslo").since_last_handled()
)
""",
    # the same without since_last_handled(): requests once per cron tick, keeps no subset of
    # every partition in the cursor (docs/scale.md, "Scaling out")
    "hourly": """
from datetime import timedelta
import dagster as dg
condition = (
    dg.AutomationCondition.in_latest_time_window(lookback_delta=timedelta(days=7))
    & dg.AutomationCondition.missing()
    & ~dg.AutomationCondition.in_progress()
    & dg.AutomationCondition.cron_tick_passed("17 * * * *", "Europe/Oslo")
)
""",
}
TICK_MINUTES = 20
"""Evaluation times 10:00, 10:20, 10:40 Oslo time: the cron tick at 10:17 passes before tick 2,
so tick 2 requests the missing latest day of every ledger, as a daemon's tick would."""


def ledger_ids(n: int) -> list[str]:
    return [str(300001 + i) for i in range(n)]


# --- child processes (each measured in a fresh interpreter) ----------------------------------
def _shard_defs(shards: int, index: int):
    from vipps_pipeline.definitions import build_shard_defs, defs
    from vipps_pipeline.defs.partitions import Shard

    if shards == 1:
        return defs
    return build_shard_defs(Shard(index, shards), dict(defs.resources))


def populate(n_ledgers: int, shards: int) -> dict:
    """Register the ledgers and record a materialization for every asset x ledger x day."""
    import dagster as dg
    import psycopg2
    from dagster._core.storage.partition_status_cache import (
        get_and_update_asset_status_cache_value,
    )
    from dagster._serdes import serialize_value

    from vipps_pipeline.defs.partitions import Shard, shard_partitions

    instance = dg.DagsterInstance.get()
    started = time.perf_counter()
    by_shard = {i: [] for i in range(shards)}
    for lid in ledger_ids(n_ledgers):
        by_shard[next(i for i in range(shards) if Shard(i, shards).owns(lid))].append(lid)
    for i, ids in by_shard.items():
        instance.add_dynamic_partitions(Shard(i, shards).partitions_name, ids)
    partitions_def = shard_partitions(Shard(0, shards))
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        # the latest day is not final yet on a live instance: leave it missing
        dates = partitions_def.get_partitions_def_for_dimension("date").get_partition_keys()[:-1]
    db = os.environ["BENCH_PG_DB"]
    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=db)
    rows = 0
    for i, ids in by_shard.items():
        shard = Shard(i, shards)
        for name in ASSETS:
            key = shard.key(dg.AssetKey(name))
            entry = dg.EventLogEntry(
                error_info=None,
                level=20,
                user_message="",
                run_id="@RUN@",
                timestamp=1.25,
                dagster_event=dg.DagsterEvent(
                    event_type_value="ASSET_MATERIALIZATION",
                    job_name="daily_ledger_job",
                    step_key="ledger_days",
                    event_specific_data=_materialization(key),
                ),
            )
            template = serialize_value(entry)
            assert "\\" not in template and "\t" not in template and "\n" not in template
            assert template.count('"timestamp": 1.25') == 1
            template = template.replace('"timestamp": 1.25', '"timestamp": @TS@')
            buf = io.StringIO()
            for lid in ids:
                run_id = str(uuid.uuid4())
                ev = template.replace("@RUN@", run_id)
                for day in dates:
                    pk = f"{day}|{lid}"
                    at = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=30)
                    buf.write(
                        f"{run_id}\t{ev.replace('@PK@', pk).replace('@TS@', str(at.timestamp()))}"
                        f"\tASSET_MATERIALIZATION\t{at:%Y-%m-%d %H:%M:%S}\tledger_days\t"
                        f"{key.to_string()}\t{pk}\n"
                    )
                    rows += 1
            buf.seek(0)
            with conn.cursor() as cur:
                cur.copy_expert(
                    "COPY event_logs (run_id, event, dagster_event_type, timestamp, step_key, "
                    "asset_key, partition) FROM STDIN",
                    buf,
                )
            conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE event_logs")
    conn.close()
    copied = time.perf_counter() - started
    builds = {}
    for i, ids in by_shard.items():
        shard = Shard(i, shards)
        for name in ASSETS:
            key = shard.key(dg.AssetKey(name))
            instance.report_runless_asset_event(
                dg.AssetMaterialization(key, partition=f"{dates[-1]}|{ids[-1]}")
            )
            t = time.perf_counter()
            get_and_update_asset_status_cache_value(instance, key, shard_partitions(shard))
            builds[key.to_user_string()] = time.perf_counter() - t
    size = instance.get_asset_records([Shard(0, shards).key(dg.AssetKey("funds_report"))])
    cached = size[0].asset_entry.cached_status
    return {
        "events": rows + len(builds),
        "days": len(dates),
        "per_shard": max(len(v) for v in by_shard.values()),
        "shard0": len(by_shard[0]),
        "copy_s": copied,
        "cache_build_s": max(builds.values()),
        "cache_mb": len(serialize_value(cached)) / 2**20,
    }


def _materialization(key):
    """What a real run records for a report day, roughly: the partition and a few numbers."""
    import dagster as dg
    from dagster._core.events import StepMaterializationData

    return StepMaterializationData(
        dg.AssetMaterialization(
            key,
            partition="@PK@",
            metadata={
                "entries": 1234,
                "opening_balance": "12 345.67 NOK",
                "closing_balance": "23 456.78 NOK",
                "sum_of_amounts": "11 111.11 NOK",
                "path": dg.MetadataValue.path("/data/reports/funds/300001/2025/2025-01-01.parquet"),
            },
        )
    )


def automation(shards: int, index: int, repeats: int, condition: str) -> dict:
    """Declarative-automation evaluations over the shard's ledger-day assets (a condition
    re-requesting missing recent days): the first tick, then ticks that carry the previous
    cursor as the daemon's do, a cron tick passing between the first two."""
    from zoneinfo import ZoneInfo

    import dagster as dg

    namespace: dict = {}
    exec(CONDITIONS[condition], namespace)
    t = time.perf_counter()
    base = _shard_defs(shards, index)
    days = next(a for a in base.assets if getattr(a, "keys", None) and len(a.keys) == 5)
    days = days.map_asset_specs(
        lambda spec: spec.replace_attributes(automation_condition=namespace["condition"])
    )
    defs = dg.Definitions(assets=[days], resources=dict(base.resources))
    defs.resolve_asset_graph()
    load = time.perf_counter() - t
    instance = dg.DagsterInstance.get()
    timings, requested, cursor = [], 0, None
    start = datetime.combine(TODAY, datetime.min.time(), ZoneInfo("Europe/Oslo"))
    for k in range(repeats):
        at = start + timedelta(hours=10, minutes=TICK_MINUTES * k)
        t = time.perf_counter()
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=cursor, evaluation_time=at
        )
        timings.append(time.perf_counter() - t)
        cursor = result.cursor
        requested = max(requested, result.total_requested)
    return {"load": load, "ticks": timings, "requested": requested}


# --- driver ----------------------------------------------------------------------------------
def _child(args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.populated", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _webserver(env: dict[str, str], workspace: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dagster_webserver", "-w", str(workspace), "-h", "127.0.0.1"]
    web = subprocess.Popen(
        [*cmd, "-p", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
            break
        except OSError:
            time.sleep(0.5)
    # the asset page is only served once every code location has loaded
    loaded = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
    while time.monotonic() < deadline:
        body = _graphql(port, loaded, {})
        entries = body["data"]["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return web
        time.sleep(0.5)
    web.kill()
    raise RuntimeError("the webserver did not load its code locations in 300 s")


def _graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    return json.loads(urllib.request.urlopen(request, timeout=600).read())


def _status_query(port: int, path: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    body = _graphql(port, QUERY, {"path": path})
    elapsed = time.perf_counter() - t
    ranges = body["data"]["assetNodeOrError"]["assetPartitionStatuses"]["ranges"]
    materialized = sum(
        len(r["secondaryDim"]["materializedPartitions"])
        * (
            1
            + (
                datetime.fromisoformat(r["primaryDimEndKey"])
                - datetime.fromisoformat(r["primaryDimStartKey"])
            ).days
        )
        for r in ranges
    )
    return elapsed, materialized


def measure(n_ledgers: int, n_days: int, shards: int, repeats: int = 3) -> dict:
    """Populate a fresh PostgreSQL database, then time the UI query and automation."""
    db = f"vipps_b4_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    subprocess.run([*PSQL, f"CREATE DATABASE {db}"], check=True)
    try:
        with tempfile.TemporaryDirectory() as home:
            Path(home, "dagster.yaml").write_text(
                "telemetry:\n  enabled: false\n"
                f"storage:\n  postgres:\n    postgres_url: {PG.format(db=db)}\n"
            )
            workspace = Path(home, "workspace.yaml")
            if shards == 1:
                workspace.write_text(
                    "load_from:\n  - python_module:\n      module_name: "
                    f"vipps_pipeline.definitions\n      working_directory: {REPO}\n"
                )
            else:
                from vipps_pipeline.shards import workspace_yaml

                workspace.write_text(workspace_yaml(shards).replace(": .", f": {REPO}"))
            env = {
                **os.environ,
                "DAGSTER_HOME": home,
                "BENCH_PG_DB": db,
                "VIPPS_SHARDS": str(shards),
                "VIPPS_START_DATE": (TODAY - timedelta(days=n_days)).isoformat(),
            }
            filled = _child(["populate", str(n_ledgers), str(shards)], env)
            path = ["funds_report"] if shards == 1 else ["shard_00", "funds_report"]
            cold, warm, shown = [], [], 0
            for _ in range(repeats):
                port = free_port()
                web = _webserver(env, workspace, port)
                try:
                    elapsed, shown = _status_query(port, path)
                    cold.append(elapsed)
                    if not warm:
                        warm = [_status_query(port, path)[0] for _ in range(repeats)]
                finally:
                    web.kill()
                    web.wait()
            auto = {
                name: [
                    _child(["automation", str(shards), "0", str(repeats), name], env)
                    for _ in range(repeats)
                ]
                for name in CONDITIONS
            }
    finally:
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=False)
    return {
        **filled,
        "ledgers": n_ledgers,
        "shards": shards,
        "shown": shown,
        "repeats": repeats,
        "status_cold": statistics.median(cold),
        "status_warm": statistics.median(warm),
        "auto": {
            name: {
                "ticks": [statistics.median(a["ticks"][i] for a in runs) for i in range(repeats)],
                "load": statistics.median(a["load"] for a in runs),
                "requested": runs[0]["requested"],
            }
            for name, runs in auto.items()
        },
    }


def row(m: dict) -> list[str]:
    # the partitions run to the latest day, which is left missing (not final yet)
    per_asset = m["shard0"] * (m["days"] + 1)
    where = (
        "unsharded"
        if m["shards"] == 1
        else f"{m['shards']} shards, measured on shard_00 ({m['shard0']} ledgers)"
    )
    return [
        f"B4 populated (PostgreSQL), {m['ledgers']:,} ledgers x {m['days'] + 1} days, {where} "
        f"({per_asset:,} partitions per asset; {m['events']:,} materializations recorded in "
        "the instance)",
        f"UI partition-status query {m['status_cold']:.2f} s cold (fresh webserver), "
        f"{m['status_warm']:.2f} s warm ({m['shown']:,} materialized shown); automation "
        "(declarative, over the 5 ledger-day assets, tick 1 without a cursor, each later "
        "tick with the previous one's, as the daemon runs them, a cron tick passing before "
        "tick 2): "
        + "; ".join(
            f"condition '{name}' "
            + ", ".join(f"tick {i + 1} {t:.2f} s" for i, t in enumerate(a["ticks"]))
            + f" ({a['requested']:,} asset partitions requested)"
            for name, a in m["auto"].items()
        )
        + f"; medians of {m['repeats']}. Status "
        f"cache {m['cache_mb']:.1f} MB per asset, built from scratch in at most "
        f"{m['cache_build_s']:.1f} s; populated in {m['copy_s']:.0f} s",
        "target: each under 5 s at 1,000 ledgers x 3 years",
    ]


def b4_populated(sizes: list[tuple[int, int, int]], repeats: int = 3) -> list[list[str]]:
    """One row per (ledgers, days, shards); needs the PostgreSQL server on 127.0.0.1:5432."""
    probe = subprocess.run([*PSQL, "SELECT 1"], capture_output=True, text=True)
    if probe.returncode:
        return [["B4 populated", "skipped: no PostgreSQL at 127.0.0.1:5432", probe.stderr[:200]]]
    rows = []
    for n_ledgers, n_days, shards in sizes:
        m = measure(n_ledgers, n_days, shards, repeats)
        print(json.dumps(m), flush=True)
        rows.append(row(m))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("populate")
    p.add_argument("ledgers", type=int)
    p.add_argument("shards", type=int)
    a = sub.add_parser("automation")
    a.add_argument("shards", type=int)
    a.add_argument("index", type=int)
    a.add_argument("repeats", type=int)
    a.add_argument("condition", choices=sorted(CONDITIONS))
    m = sub.add_parser("measure")
    m.add_argument("ledgers", type=int)
    m.add_argument("days", type=int)
    m.add_argument("shards", type=int)
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore")
    if args.cmd == "populate":
        out = populate(args.ledgers, args.shards)
    elif args.cmd == "automation":
        out = automation(args.shards, args.index, max(2, args.repeats), args.condition)
    else:
        out = measure(args.ledgers, args.days, args.shards)
        print("\n".join(row(out)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
