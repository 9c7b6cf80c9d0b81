"""B7: a partner's first sync, against fetching and decoding the same pages bare, in one run.

``vipps-pipeline sync`` walks N simulated ledgers through a year of closed dates on a fresh
instance (the embedded default's SQLite, and PostgreSQL when one answers on 127.0.0.1:5432), as
one run, as the default's one run per core, or as 4 runs at once (``VIPPS_SYNC_RUNS``: the
command deals the ledgers over its runs). Beside it, the fetch
floor: a bare ``requests`` + ``json.loads`` loop over exactly the pages the sync stored (every
page of every stored ledger-day, and the one not-ready answer that ends each walk), timed
before and after the syncs; the slower of the two is the floor, so the ratio is not flattered
by a lucky quiet moment. The extrapolation to 1,000 ledgers x 3 years is linear in
ledger-days, which is what the engine's per-ledger-day costs make it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

from benchmarks.run import REPO, TODAY, child

TARGET_LEDGER_DAYS = 1_000 * 3 * 365

FETCH_LOOP = """
import json, os, sys, time
from datetime import date, timedelta
import requests
from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings
token = ReportClient(ApiSettings.from_env(os.environ)).token()
session = requests.Session()
headers = {"Authorization": "Bearer " + token,
           "Ocp-Apim-Subscription-Key": os.environ["VIPPS_SUBSCRIPTION_KEY"]}
base = os.environ["VIPPS_BASE_URL"] + "/report/v2/ledgers/"
plan = json.loads(open(os.environ["B7_PLAN"]).read())
first, last = date.fromisoformat(plan["first"]), date.fromisoformat(plan["last"])
t = time.perf_counter()
final, pages = [], 0
for ledger in plan["ledgers"]:
    for topic in ("funds", "fees"):
        d = first
        while d <= last:  # the walk: every date until the first that is not final
            params, open_ = {}, False
            while True:
                r = session.get(f"{base}{ledger}/{topic}/dates/{d}", params=params,
                                headers=headers)
                pages += 1
                if r.status_code == 404:
                    open_ = True
                    break
                body = json.loads(r.content)
                open_ = open_ or body.get("tryLater", False)
                if open_ or not body.get("hasMore"):
                    break
                params = {"cursor": body["cursor"]}
            if open_:
                break
            final.append([ledger, topic, d.isoformat()])
            d += timedelta(days=1)
print(json.dumps({"seconds": time.perf_counter() - t, "pages": pages, "final": final}))
"""
"""The fetch floor. It walks like the sync (date order per topic, stopping at the first date
that is not final), so it asks for exactly the pages the sync asks for; its list of final
ledger-days is compared with the files the sync stored."""


def fetch_floor(env: dict[str, str], plan: Path) -> dict:
    return child(FETCH_LOOP, {**env, "B7_PLAN": str(plan)})


def stored_days(data: Path) -> set[tuple[str, str, str]]:
    """(ledger, topic, date) of every report file under ``data``."""
    out = set()
    for p in data.glob("reports/*/*/*/*.parquet"):
        topic, ledger = p.parts[-4], p.parts[-3]
        out.add((ledger, topic, p.stem))
    return out


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sync_runs(env: dict[str, str], home: Path, runs: int) -> float:
    """``vipps-pipeline sync`` as a partner starts it, one command that lists the ledgers
    itself and deals them over ``VIPPS_SYNC_RUNS=runs`` runs at once (0: the default, one per
    core). Returns the wall time; the command must succeed."""
    argv = [sys.executable, "-m", "vipps_pipeline.cli", "sync", "--dagster-home", str(home)]
    env = {**os.environ, **env, "DAGSTER_HOME": str(home), "VIPPS_SYNC_RUNS": str(runs)}
    t = time.perf_counter()
    out = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(
            f"sync failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        )
    return seconds


def postgres_reachable() -> bool:
    try:
        import psycopg2

        from benchmarks.backfill import PG_ADMIN

        psycopg2.connect(PG_ADMIN, connect_timeout=2).close()
        return True
    except Exception:
        return False


def _home(kind: str, home: Path):
    from benchmarks.backfill import postgres_home, sqlite_home

    home.mkdir(parents=True)
    if kind == "postgres":
        return postgres_home(home)
    if kind == "sqlite":
        return sqlite_home(home)
    return nullcontext()


def b7(
    n_ledgers: int,
    n_days: int,
    sim_env: Callable,
    start_simulator: Callable,
    configs: tuple[tuple[str, int], ...] = (
        ("sqlite", 1),
        ("sqlite", 0),
        ("sqlite", 4),
        ("postgres", 1),
        ("postgres", 0),
    ),
) -> list[list[str]]:
    """Each (instance, VIPPS_SYNC_RUNS) sync on a fresh data folder and instance, beside the
    fetch floor."""
    if not postgres_reachable():
        configs = tuple(c for c in configs if c[0] != "postgres")
    proc, port = start_simulator({}, ledgers=n_ledgers)
    ledger_ids = [str(200001 + i) for i in range(n_ledgers)]
    last = TODAY - timedelta(days=1)
    first = last - timedelta(days=n_days - 1)
    measured = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            plan = Path(tmp, "plan.json")
            plan.write_text(
                json.dumps({"ledgers": ledger_ids, "first": str(first), "last": str(last)})
            )
            env = {**sim_env(port), "VIPPS_START_DATE": first.isoformat()}
            before = fetch_floor(env, plan)
            for number, (kind, runs) in enumerate(configs):
                home, data = Path(tmp, f"home-{number}-{kind}"), Path(tmp, f"data-{number}-{kind}")
                with _home(kind, home):
                    cpu = cpu_seconds()
                    seconds = sync_runs({**env, "VIPPS_DATA_DIR": str(data)}, home, runs)
                    used = cpu_seconds() - cpu
                got = stored_days(data)
                measured.append((kind, runs, seconds, used, got))
                print(
                    json.dumps([kind, runs, round(seconds, 1), round(used, 1), len(got)]),
                    flush=True,
                )
            after = fetch_floor(env, plan)
    finally:
        proc.kill()
        proc.wait()
    return _rows(n_ledgers, n_days, before, after, measured)


def _auto_runs(n_ledgers: int) -> int:
    from vipps_pipeline.settings import PipelineSettings

    return PipelineSettings.from_env({}).runs_for(n_ledgers)


def _rows(
    n_ledgers: int, n_days: int, before: dict, after: dict, measured: list
) -> list[list[str]]:
    final = {tuple(x) for x in before["final"]}
    floor = max(before["seconds"], after["seconds"])
    ledger_days = len(final) / 2  # a ledger-day is both topics' reports
    serial = {kind: seconds for kind, runs, seconds, *_ in measured if runs == 1}
    rows = []
    for kind, runs, seconds, used, got in measured:
        rate = ledger_days / seconds
        hours = TARGET_LEDGER_DAYS / rate / 3600
        speedup = (
            f"; {serial[kind] / seconds:.2f}x the throughput of 1 run"
            if runs != 1 and kind in serial
            else ""
        )
        how = (
            f"VIPPS_SYNC_RUNS=0, the default ({_auto_runs(n_ledgers)} runs here)"
            if runs == 0
            else f"VIPPS_SYNC_RUNS={runs}"
        )
        rows.append(
            [
                f"B7 first sync, {n_ledgers} ledgers x {n_days} days, {kind}, {how}",
                f"sync {seconds:.1f} s ({used:.0f} s CPU in the sync processes), "
                f"{rate:.1f} ledger-days/s; fetch floor (requests + json.loads over the same "
                f"{before['pages']:,} pages) {before['seconds']:.1f} s before and "
                f"{after['seconds']:.1f} s after; same pages: {got == final}; "
                f"1,000 ledgers x 3 years: {hours:.1f} h{speedup}",
                f"sync/floor {seconds / floor:.2f} (target <= 4 embedded, <= 5 PostgreSQL; aim 3)",
            ]
        )
    return rows


if __name__ == "__main__":
    import argparse

    from benchmarks.run import sim_env, start_simulator

    parser = argparse.ArgumentParser(description="B7 on its own")
    parser.add_argument("ledgers", type=int)
    parser.add_argument("days", type=int)
    parser.add_argument(
        "--config",
        action="append",
        help="KIND:VIPPS_SYNC_RUNS, e.g. sqlite:1 or sqlite:0 for the default (repeatable)",
    )
    args = parser.parse_args()
    chosen = tuple((c.split(":")[0], int(c.split(":")[1])) for c in args.config or ["sqlite:1"])
    for row in b7(args.ledgers, args.days, sim_env, start_simulator, chosen):
        print(" | ".join(row))
