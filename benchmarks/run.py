"""Benchmarks, side by side with a baseline in the same run: medians and ratios, never one timing.

Run from the repository root: ``.venv/bin/python benchmarks/run.py`` (all, about 15 minutes) or
``--quick`` (tiny sizes, seconds; what the smoke test runs). The simulator runs in a separate
process on loopback. Results are printed and written to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vipps_pipeline.simulator import DEMO_CREDENTIALS  # noqa: E402
from vipps_pipeline.simulator.model import cloned_ledgers  # noqa: E402

TODAY = datetime.now(ZoneInfo("Europe/Oslo")).date()
LARGE_LEDGER = "100001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sim_env(port: int) -> dict[str, str]:
    creds = DEMO_CREDENTIALS["merchant"]
    return {
        "VIPPS_BASE_URL": f"http://127.0.0.1:{port}",
        "VIPPS_KEY_TYPE": "merchant",
        "VIPPS_CLIENT_ID": creds["client_id"],
        "VIPPS_CLIENT_SECRET": creds["client_secret"],
        "VIPPS_SUBSCRIPTION_KEY": creds["subscription_key"],
        "VIPPS_MERCHANT_SERIAL_NUMBER": creds["merchant_serial_number"],
    }


def start_simulator(
    large: dict[date, int], ledgers: int = 0, outage: bool = False, prerender: bool = False
) -> tuple[subprocess.Popen, int]:
    """The simulator in its own process; with ``prerender`` its large days are rendered once
    and served as bytes (it answers only once they are, which takes a while)."""
    port = free_port()
    cmd = [sys.executable, "-m", "vipps_pipeline.cli", "simulate", "--port", str(port)]
    cmd += ["--ledgers", str(ledgers)] + (["--outage"] if outage else [])
    cmd += ["--prerender"] if prerender else []
    for d, n in large.items():
        cmd += ["--large-day", f"{LARGE_LEDGER}:{d.isoformat()}:{n}"]
    if prerender:
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:  # the listening line comes after the pages are rendered
            if "listening on" in line:
                return proc, port
        proc.kill()
        raise SystemExit("the simulator did not start")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the simulator did not start")


def child(code: str, env: dict[str, str]) -> dict:
    """Run ``code`` in a fresh interpreter (its own peak RSS); it prints one JSON line."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


PIPELINE = """
import json, os, resource, time
from datetime import date
from pathlib import Path
from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.sync.ingest import fetch_day
from vipps_pipeline.settings import ApiSettings
client = ReportClient(ApiSettings.from_env(os.environ))
client.token()
t = time.perf_counter()
day = date.fromisoformat("{day}")
s = fetch_day(client, Path(os.environ["BENCH_DIR"]), "{ledger}", "funds", day)
elapsed = time.perf_counter() - t
print(json.dumps({{"seconds": elapsed, "rows": s.rows,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

BASELINE = """
import json, os, resource, time
import requests
from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings
token = ReportClient(ApiSettings.from_env(os.environ)).token()
session = requests.Session()
headers = {{"Authorization": "Bearer " + token,
           "Ocp-Apim-Subscription-Key": os.environ["VIPPS_SUBSCRIPTION_KEY"]}}
url = os.environ["VIPPS_BASE_URL"] + "/report/v2/ledgers/{ledger}/{topic}/dates/{day}"
t = time.perf_counter()
rows, params = 0, {{}}
while True:
    body = json.loads(session.get(url, params=params, headers=headers).content)
    rows += len(body["items"])
    if not body.get("hasMore"):
        break
    params = {{"cursor": body["cursor"]}}
elapsed = time.perf_counter() - t
print(json.dumps({{"seconds": elapsed, "rows": rows,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

WHOLE = """
import json, os, resource
from datetime import date
from pathlib import Path
import pyarrow.parquet as pq
from vipps_pipeline.cli.runs import dagster_home, run_main_job
dagster_home(os.environ["BENCH_HOME"])
day = date.fromisoformat("{day}")
errors = run_main_job(day, day, ["{ledger}"])
assert not any(errors.values()), errors
rows = sum(pq.read_metadata(p).num_rows
           for p in Path(os.environ["VIPPS_DATA_DIR"]).glob("reports/*/{ledger}/*/{day}.parquet"))
print(json.dumps({{"rows": rows,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
"""A fresh process that imports the project and runs the ledger-day through Dagster as the
CLI does: both topics, statements and every check, on a SQLite instance."""


MATERIALIZED = """
import json, os, resource, time
import dagster as dg
from vipps_pipeline.cli.runs import QUIET_LOGS, dagster_home, load_dagster
dagster_home(os.environ["BENCH_HOME"])
defs, instance = load_dagster()
instance.add_dynamic_partitions("ledgers", ["{ledger}"])
job = defs.resolve_implicit_global_asset_job_def()
t = time.perf_counter()
result = job.execute_in_process(instance=instance, run_config=QUIET_LOGS,
                                asset_selection=[dg.AssetKey("funds_report")],
                                partition_key="{day}|{ledger}")
elapsed = time.perf_counter() - t
assert result.success
[mat] = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
rows = mat.event_specific_data.materialization.metadata["rows"].value
print(json.dumps({{"seconds": elapsed, "rows": rows,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
"""B1b: ``funds_report`` for the big day as a user materializes it: a Dagster run in a fresh
process on the embedded default (the run timed; the process from its start separately)."""


def materialized(day: date, env: dict[str, str]) -> dict:
    """Run :data:`MATERIALIZED`; adds the whole process's time as ``process_seconds``."""
    with tempfile.TemporaryDirectory() as tmp:
        more = {"BENCH_HOME": f"{tmp}/home", "VIPPS_DATA_DIR": f"{tmp}/data"}
        more["VIPPS_START_DATE"] = day.isoformat()
        t = time.perf_counter()
        result = child(MATERIALIZED.format(ledger=LARGE_LEDGER, day=day), {**env, **more})
        return {**result, "process_seconds": time.perf_counter() - t}


def whole_process(day: date, env: dict[str, str]) -> dict:
    """Time :data:`WHOLE` from the process start to its exit."""
    with tempfile.TemporaryDirectory() as tmp:
        more = {"BENCH_HOME": f"{tmp}/home", "VIPPS_DATA_DIR": f"{tmp}/data"}
        t = time.perf_counter()
        result = child(WHOLE.format(ledger=LARGE_LEDGER, day=day), {**env, **more})
        return {**result, "seconds": time.perf_counter() - t}


def b1(sizes: list[int], repeats: int) -> list[list[str]]:
    """A large day: the real ingest code against a bare requests + json.loads loop over the
    same pages, both served pre-rendered so that the server is never what is measured; then
    a whole fresh process through Dagster beside the same loop over both topics."""
    days = {TODAY - timedelta(days=20 + i): n for i, n in enumerate(sizes)}
    rows = []
    proc, port = start_simulator(days, prerender=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**sim_env(port), "BENCH_DIR": tmp}
            results = {}
            for d in days:
                runs: dict[str, list[dict]] = {k: [] for k in ("pipeline", "funds", "fees")}
                runs["whole"], runs["asset"] = [], []
                for _ in range(repeats):  # interleaved, so noise hits both alike
                    fmt = {"ledger": LARGE_LEDGER, "day": d}
                    runs["pipeline"].append(child(PIPELINE.format(**fmt), env))
                    runs["asset"].append(materialized(d, env))
                    runs["funds"].append(child(BASELINE.format(topic="funds", **fmt), env))
                    runs["fees"].append(child(BASELINE.format(topic="fees", **fmt), env))
                    runs["whole"].append(whole_process(d, env))
                results[d] = runs
    finally:
        proc.kill()
    # the same bare loop against the simulator generating the pages: what B1 measured before
    slow_proc, slow_port = start_simulator(days)
    try:
        slow = {d: child(BASELINE.format(ledger=LARGE_LEDGER, topic="funds", day=d),
                         sim_env(slow_port)) for d in days}  # fmt: skip
    finally:
        slow_proc.kill()
    for d, n in days.items():
        runs = results[d]
        med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
        p, b, w = med["pipeline"], med["funds"], med["whole"]
        both = med["funds"] + med["fees"]
        got = runs["pipeline"][0]["rows"]
        both_rows = runs["funds"][0]["rows"] + runs["fees"][0]["rows"]
        rss = max(r["rss_mb"] for r in runs["pipeline"])
        base_rss = max(r["rss_mb"] for r in runs["funds"])
        slow_rate = slow[d]["rows"] / slow[d]["seconds"]
        rows.append(
            [
                f"B1 large day, {n:,} entries ({got:,} rows stored)",
                f"pipeline {got / p:,.0f} entries/s ({p:.2f} s); baseline {got / b:,.0f} "
                f"entries/s ({b:.2f} s) from pre-rendered pages ({slow_rate:,.0f} entries/s "
                f"from the generating simulator); peak RSS {rss:.0f} MB (baseline "
                f"{base_rss:.0f} MB); median of {repeats}",
                f"pipeline/baseline time {p / b:.2f} (target <= 1.3); RSS target < 300 MB",
            ]
        )
        asset_rss = max(r["rss_mb"] for r in runs["asset"])
        process = statistics.median(r["process_seconds"] for r in runs["asset"])
        a = med["asset"]
        rows.append(
            [
                f"B1b funds_report as materialized, {n:,} entries "
                f"({runs['asset'][0]['rows']:,} rows)",
                f"a Dagster run (execute_in_process, embedded default) {a:.2f} s, "
                f"{got / a:,.0f} entries/s; the whole process from its start {process:.2f} s; "
                f"baseline {b:.2f} s over the same pre-rendered pages; peak RSS "
                f"{asset_rss:.0f} MB; median of {repeats}",
                f"run/baseline time {a / b:.2f}, whole process/baseline {process / b:.2f} "
                "(target <= 1.3, aim 1.1); RSS target < 300 MB",
            ]
        )
        whole_rss = max(r["rss_mb"] for r in runs["whole"])
        rows.append(
            [
                f"B1 whole process, {n:,} entries x 2 topics "
                f"({runs['whole'][0]['rows']:,} rows stored)",
                f"a fresh process through Dagster (start-up, both topics, statements, checks) "
                f"{w:.2f} s, {both_rows / w:,.0f} entries/s; baseline both topics {both:.2f} s, "
                f"{both_rows / both:,.0f} entries/s; peak RSS {whole_rss:.0f} MB",
                f"whole process/baseline time {w / both:.2f}",
            ]
        )
    return rows


def write_reports(data: Path, world, ledger_id: str, dates: list) -> None:
    """Both topics' report files of a simulated ledger's dates, through the real parser and
    writer (what a sync stores, without the API in between)."""
    from vipps_pipeline.api.parse import page_to_batch
    from vipps_pipeline.store.atomic import write_batches
    from vipps_pipeline.store.paths import report_path
    from vipps_pipeline.store.schemas import REPORT_SCHEMA

    for d in dates:
        for topic in ("funds", "fees"):
            batch = page_to_batch(
                world.day(ledger_id, topic, d).entries,
                ledger_id=ledger_id,
                topic=topic,
                ledger_date=d,
                seq_start=0,
                include_gdpr=False,
            )
            write_batches(report_path(data, topic, ledger_id, d), REPORT_SCHEMA, [batch])


def b3(n_ledgers: int, n_days: int, repeats: int) -> list[list[str]]:
    """Statements and every check for a year of many ledgers, from stored Parquet."""
    from vipps_pipeline.books import derive as books
    from vipps_pipeline.simulator import World

    ledgers = cloned_ledgers(n_ledgers)
    world = World(seed=1, ledgers=ledgers)
    end = TODAY - timedelta(days=10)
    dates = [end - timedelta(days=k) for k in range(n_days)][::-1]
    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        for spec in ledgers:
            write_reports(data, world, spec.ledger_id, dates)
        workers = os.cpu_count() or 1
        parallel = []
        for _ in range(repeats):
            t = time.perf_counter()
            for spec in ledgers:
                reconcile_ledger(data, spec.ledger_id, dates)
            timings.append(time.perf_counter() - t)
            # as the backfill's runs do: one process per ledger, as many at once as cores
            t = time.perf_counter()
            with ProcessPoolExecutor(workers) as pool:
                list(
                    pool.map(
                        reconcile_ledger,
                        [data] * n_ledgers,
                        [s.ledger_id for s in ledgers],
                        [dates] * n_ledgers,
                    )
                )
            parallel.append(time.perf_counter() - t)
        findings = books.read_findings(data)
    fails = int((findings.status == "fail").sum())
    med, par = statistics.median(timings), statistics.median(parallel)
    return [
        [
            f"B3 reconciliation, {n_ledgers} ledgers x {n_days} days",
            f"{par:.1f} s with {workers} ledgers at a time; {med:.1f} s one after another "
            f"({med / n_ledgers:.2f} s per ledger: reading {4 * n_days:,} and writing "
            f"{2 * n_days:,} Parquet files); median of {repeats}; {len(findings):,} findings, "
            f"{fails} failures",
            "target < 20 s",
        ]
    ]


def reconcile_ledger(data: Path, ledger_id: str, dates: list[date]) -> None:
    from vipps_pipeline.books import derive as books

    books.write_statements(data, ledger_id, dates)
    books.write_findings(data, ledger_id, dates, first_date=dates[0], window=3)


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {mem:.0f} GiB, {platform.machine()}, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", default="B1,B2,B3,B4,B5,B6,B7", help="comma-separated benchmarks")
    parser.add_argument(
        "--lake-sizes",
        default="100x365",
        help="B6's sizes, ledgers x days, comma-separated (e.g. 100x365,1000x1095)",
    )
    parser.add_argument(
        "--lake-keep",
        default=None,
        help="a folder B6 keeps each size's populated data in (<folder>/<size>) and reuses",
    )
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "RESULTS.md"))
    args = parser.parse_args(argv)
    only = set(args.only.upper().split(","))
    q = args.quick
    rows: list[list[str]] = []
    started = time.perf_counter()
    if "B1" in only:
        rows += b1([2_000] if q else [100_000, 1_000_000], 1 if q else 3)
    if "B2" in only:
        from benchmarks.backfill import b2

        quick = (("sqlite", 1), ("postgres", 2))  # both event logs and parallel runs, briefly
        if q:
            rows += b2(2, 5, sim_env, start_simulator, quick)
        else:
            rows += b2(10, 365, sim_env, start_simulator)
        if not q:  # Dagster's own SQLite event log beside the project's, at the size
            rows += b2(4, 90, sim_env, start_simulator, (("sqlite-plain", 1), ("sqlite", 1)))
    if "B3" in only:
        rows += b3(2 if q else 10, 10 if q else 365, 1 if q else 3)
    if "B4" in only:
        from benchmarks.populated import b4_populated
        from benchmarks.scale import b4

        rows += b4(3 if q else 100, 30 if q else 3 * 365)
        # (ledgers, days, shards): unsharded vs sharded at 300, sharded at 1,000 (~100 each)
        sizes = [(6, 30, 2)] if q else [(300, 1095, 1), (300, 1095, 3), (1000, 1095, 10)]
        rows += b4_populated(sizes, 1 if q else 3)
    if "B5" in only and not q:  # its outage half takes minutes by design
        from benchmarks.completeness import b5

        rows += b5(730, sim_env, start_simulator)
    if "B6" in only:
        from benchmarks.lake import b6
        from benchmarks.lake_sync import sync_overhead

        sizes = ["2x10"] if q else args.lake_sizes.split(",")
        for size in sizes:
            n_ledgers, n_days = (int(x) for x in size.split("x"))
            keep = Path(args.lake_keep) / size if args.lake_keep else None
            rows += b6(n_ledgers, n_days, keep)
        rows.append(sync_overhead(1, 10, 1) if q else sync_overhead(3, 365, 2))
    if "B7" in only:
        from benchmarks.first_sync import b7

        if q:  # briefly, on the embedded default (B2's smoke covers PostgreSQL's event log)
            rows += b7(1, 5, sim_env, start_simulator, (("sqlite", 0),))
        else:
            rows += b7(4, 365, sim_env, start_simulator)
    table = ["| benchmark | measured | compared with |", "|---|---|---|"]
    table += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            f"Run {datetime.now().isoformat(timespec='seconds')} on {machine()}.",
            f"Command: `.venv/bin/python benchmarks/run.py{' --quick' if q else ''}` "
            f"({time.perf_counter() - started:.0f} s in all).",
            "",
            *table,
            "",
        ]
    )
    print(text)
    if not q:
        _save(Path(args.results), text, only)
    return 0


def _save(path: Path, text: str, only: set[str]) -> None:
    """Write the results; a partial run (``--only``) replaces just its own rows."""
    if only >= {"B1", "B2", "B3", "B4", "B5", "B6", "B7"} or not path.exists():
        path.write_text(text)
        return
    new_rows = [line for line in text.splitlines() if line.startswith("| B")]
    kept = [
        line
        for line in path.read_text().splitlines()
        if line.startswith("| B") and line[2:4] not in only
    ]
    header = [line for line in text.splitlines() if not line.startswith("| B")]
    rows = sorted(kept + new_rows, key=lambda line: line[2:4])
    note = f"Rows {', '.join(sorted(only))} from this run; the others from earlier runs."
    at = header.index("|---|---|---|") + 1
    previous = path.read_text().splitlines()  # the earlier runs' notes under the table stay
    last_row = max(k for k, line in enumerate(previous) if line.startswith("| "))
    notes = [line for line in previous[last_row + 1 :] if line.strip()]
    body = [*header[:at], *rows, "", *notes, note, ""]
    path.write_text("\n".join(line for k, line in enumerate(body) if line or body[k - 1]))


if __name__ == "__main__":
    sys.exit(main())
