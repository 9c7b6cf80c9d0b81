"""B2: a year of ledgers through Dagster, against the same engine without Dagster, in one run.

The bare side is the project's own engine (``sync.engine.run_ledger``) in a plain loop: it
fetches, stores and reconciles exactly the files the Dagster runs write, so the difference is
what Dagster's bookkeeping costs. The Dagster side is what a backfill does: one ranged run per
ledger, each a new process (``dagster asset materialize --partition-range``), on a SQLite
instance and on the real PostgreSQL with 1, 2 and 4 runs at a time.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from benchmarks.run import REPO, TODAY, child

ASSETS = "funds_report,fees_report,daily_statements,journal,reconciliation"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def bare_loop(env: dict[str, str], data: Path, ledger_ids: list[str], dates: list) -> float:
    """The engine without Dagster: every report, statement, journal and finding, one process."""
    code = f"""
import json, os, time
from datetime import date
from vipps_pipeline.sync import engine as lr
from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings, PipelineSettings
settings = PipelineSettings.from_env(os.environ)
client = ReportClient(ApiSettings.from_env(os.environ))
dates = tuple(date.fromisoformat(d) for d in {[d.isoformat() for d in dates]!r})
breaker = lr.Breaker(settings.max_consecutive_errors)
t = time.perf_counter()
for ledger in {ledger_ids!r}:
    for event in lr.run_ledger(lr.Work(ledger, dates), client=client, settings=settings,
                               breaker=breaker):
        assert not isinstance(event, lr.DayFailed), event
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""
    return child(code, {**env, "VIPPS_DATA_DIR": str(data), "VIPPS_START_DATE": str(dates[0])})[
        "seconds"
    ]


@contextmanager
def postgres_home(home: Path, plain: bool = False) -> Iterator[str]:
    """A DAGSTER_HOME on a new PostgreSQL database (dropped afterwards); yields its URL. The
    storage is deploy/dagster.yaml's (``plain``: Dagster's own ``storage: postgres``, which
    connects per statement, for comparison)."""
    import psycopg2
    import yaml

    name = f"vipps_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    storage = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())["storage"]
    storage["custom"]["config"]["postgres_url"] = url
    if plain:
        storage = {"postgres": {"postgres_url": url}}
    config = {"telemetry": {"enabled": False}, "storage": storage}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    try:
        yield url
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def dagster_runs(
    env: dict[str, str],
    home: Path,
    data: Path,
    ledger_ids: list[str],
    dates: list,
    concurrency: int = 1,
) -> float:
    """One ranged run per ledger, each in a new process, ``concurrency`` at a time."""
    env = {
        **os.environ,
        **env,
        "DAGSTER_HOME": str(home),
        "VIPPS_DATA_DIR": str(data),
        "VIPPS_START_DATE": dates[0].isoformat(),
    }
    register = (
        "import dagster as dg; i = dg.DagsterInstance.get(); "
        f"i.add_dynamic_partitions('ledgers', {ledger_ids!r})"
    )
    subprocess.run([sys.executable, "-c", register], env=env, check=True, cwd=REPO)

    def one(ledger: str) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dagster",
                "asset",
                "materialize",
                "-m",
                "vipps_pipeline.definitions",
                "--select",
                ASSETS,
                "--partition-range",
                f"{dates[0].isoformat()}|{ledger}...{dates[-1].isoformat()}|{ledger}",
            ],
            env=env,
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, ledger_ids))
    return time.perf_counter() - t


def event_rows(home: Path) -> dict[str, int]:
    """Rows the runs wrote to the event log, by event type ("log" for plain log lines)."""
    code = """
import json, dagster as dg
from collections import Counter
i = dg.DagsterInstance.get()
c = Counter()
for run in i.get_runs():
    for e in i.all_logs(run.run_id):
        c[e.dagster_event.event_type_value if e.dagster_event else "log"] += 1
print(json.dumps(dict(c)))
"""
    return child(code, {"DAGSTER_HOME": str(home)})


def same_files(a: Path, b: Path) -> bool:
    """Every report file byte-identical, and the same set of landing files everywhere (the
    tables' data files carry random names)."""
    files_a = {
        p.relative_to(a) for p in a.rglob("*.parquet") if p.relative_to(a).parts[0] != "tables"
    }
    files_b = {
        p.relative_to(b) for p in b.rglob("*.parquet") if p.relative_to(b).parts[0] != "tables"
    }
    return files_a == files_b and all(
        (a / p).read_bytes() == (b / p).read_bytes() for p in files_a if p.parts[0] == "reports"
    )


def cpu_seconds() -> float:
    """User and system time of every finished child process so far. PostgreSQL's server
    processes are not children: their time is not in it, so on PostgreSQL the CPU ratio
    leaves out the database's share."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def b2(
    n_ledgers: int,
    n_days: int,
    sim_env: Callable,
    start_simulator: Callable,
    instances: tuple[tuple[str, int], ...] = (
        ("sqlite", 1),
        ("postgres-plain", 1),
        ("postgres", 1),
        ("postgres", 2),
        ("postgres", 4),
    ),
) -> list[list[str]]:
    """Each Dagster configuration beside the bare engine, measured before and after them all
    (the machine is shared: the spread says how much the load moved), wall and CPU time."""
    proc, port = start_simulator({}, ledgers=n_ledgers)
    ledger_ids = [str(200001 + i) for i in range(n_ledgers)]
    end = TODAY - timedelta(days=3)
    dates = [end - timedelta(days=k) for k in range(n_days)][::-1]
    ledger_days = n_ledgers * n_days
    rows, measured = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bare_dir = Path(tmp, "bare")
            cpu = cpu_seconds()
            bare = [bare_loop(sim_env(port), bare_dir, ledger_ids, dates)]
            bare_cpu = cpu_seconds() - cpu
            for kind, concurrency in instances:
                home, data = Path(tmp, f"home-{kind}-{concurrency}"), Path(tmp, "d", kind)
                home.mkdir(parents=True)
                plain = kind.endswith("-plain")
                with (
                    postgres_home(home, plain)
                    if kind.startswith("postgres")
                    else sqlite_home(home, plain)
                ):
                    cpu = cpu_seconds()
                    seconds = dagster_runs(
                        sim_env(port), home, data, ledger_ids, dates, concurrency
                    )
                    run_cpu = cpu_seconds() - cpu
                    events = event_rows(home)
                same = same_files(bare_dir, data)
                shutil.rmtree(data, ignore_errors=True)
                measured.append((kind, concurrency, seconds, run_cpu, events, same))
                print(json.dumps(measured[-1]), flush=True)
            shutil.rmtree(bare_dir, ignore_errors=True)
            bare.append(bare_loop(sim_env(port), bare_dir, ledger_ids, dates))
    finally:
        proc.kill()
        proc.wait()  # reaped now, so its CPU time is not counted in a later measurement
    base = statistics.mean(bare)
    serial = {k: s for k, c, s, *_ in measured if c == 1}
    for kind, concurrency, seconds, run_cpu, events, same in measured:
        total = sum(events.values())
        top = ", ".join(f"{k} {v / ledger_days:.1f}" for k, v in Counter(events).most_common(4))
        overhead_ms = (seconds - base) / ledger_days * 1000
        speedup = (
            f"; {serial[kind] / seconds:.2f}x the throughput of 1 run"
            if concurrency > 1 and kind in serial
            else ""
        )
        rows.append(
            [
                f"B2 backfill, {n_days} days x {n_ledgers} ledgers, {kind}"
                + (" (Dagster's own storage class)" if kind.endswith("plain") else "")
                + f", {concurrency} run(s) at a time",
                f"Dagster {seconds:.0f} s in {n_ledgers} ranged runs ({run_cpu:.0f} s CPU in "
                f"the run processes); bare engine {bare[0]:.0f} s before and {bare[1]:.0f} s "
                f"after ({bare_cpu:.0f} s CPU); same files: {same}; Dagster adds "
                f"{overhead_ms:.0f} ms per ledger-day; {total / ledger_days:.1f} event-log "
                f"rows per ledger-day ({top}){speedup}",
                f"Dagster/bare {seconds / base:.2f} wall, {run_cpu / bare_cpu:.2f} CPU "
                "(target <= 3, aim 2)",
            ]
        )
    return rows


@contextmanager
def sqlite_home(home: Path, plain: bool = False) -> Iterator[None]:
    """The embedded default's home as ``vipps-pipeline`` writes it (``plain``: Dagster's own
    SQLite event log, for comparison)."""
    from vipps_pipeline.instance.event_log import dagster_yaml

    text = "telemetry:\n  enabled: false\n" if plain else dagster_yaml(str(home))
    (home / "dagster.yaml").write_text(text)
    yield
