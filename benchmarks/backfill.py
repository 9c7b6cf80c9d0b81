"""B2: a year of ledgers through Dagster, against the bare client loop writing the same files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from benchmarks.run import REPO, TODAY, child

ASSETS = "funds_report,fees_report,daily_statements,reconciliation"


def bare_loop(env: dict[str, str], data: Path, ledger_ids: list[str], dates: list) -> float:
    """What a hand-written script would do: fetch, store, state and reconcile, one process."""
    code = f"""
import json, os, time
from datetime import date
from pathlib import Path
from vipps_pipeline import books
from vipps_pipeline.client import ReportClient
from vipps_pipeline.ingest import fetch_day
from vipps_pipeline.settings import ApiSettings
client = ReportClient(ApiSettings.from_env(os.environ))
data = Path({str(data)!r})
dates = [date.fromisoformat(d) for d in {[d.isoformat() for d in dates]!r}]
t = time.perf_counter()
for ledger in {ledger_ids!r}:
    for d in dates:
        for topic in ("funds", "fees"):
            fetch_day(client, data, ledger, topic, d)
    books.write_statements(data, ledger, dates)
    books.write_findings(data, ledger, dates, first_date=dates[0], window=3)
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""
    return child(code, env)["seconds"]


def dagster_runs(
    env: dict[str, str], home: Path, data: Path, ledger_ids: list[str], dates: list
) -> tuple[float, int]:
    """One ranged run per ledger, each in a new process as the run launcher starts them:
    `dagster asset materialize --partition-range` runs the project's single_run backfill
    policy in-process, on a SQLite instance."""
    env = {
        **os.environ,
        **env,
        "DAGSTER_HOME": str(home),
        "VIPPS_DATA_DIR": str(data),
        "VIPPS_START_DATE": dates[0].isoformat(),
        "VIPPS_NOT_READY_RETRIES": "0",
    }
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    register = (
        "import dagster as dg; i = dg.DagsterInstance.get(); "
        f"i.add_dynamic_partitions('ledgers', {ledger_ids!r})"
    )
    subprocess.run([sys.executable, "-c", register], env=env, check=True, cwd=REPO)
    t = time.perf_counter()
    for ledger in ledger_ids:
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
    return time.perf_counter() - t, len(ledger_ids)


def b2(
    n_ledgers: int, n_days: int, sim_env: Callable, start_simulator: Callable
) -> list[list[str]]:
    proc, port = start_simulator({}, ledgers=n_ledgers)
    ledger_ids = [str(200001 + i) for i in range(n_ledgers)]
    end = TODAY - timedelta(days=3)
    dates = [end - timedelta(days=k) for k in range(n_days)][::-1]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bare_dir, dag_dir, home = Path(tmp, "bare"), Path(tmp, "dagster"), Path(tmp, "home")
            home.mkdir()
            bare = bare_loop(sim_env(port), bare_dir, ledger_ids, dates)
            dagster, runs = dagster_runs(sim_env(port), home, dag_dir, ledger_ids, dates)
            files = len(list(dag_dir.rglob("*.parquet")))
            same = all(
                (dag_dir / p.relative_to(bare_dir)).read_bytes() == p.read_bytes()
                for p in bare_dir.rglob("*.parquet")
                if "reports" in p.parts
            )
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        proc.kill()
    return [
        [
            f"B2 backfill, {n_days} days x {n_ledgers} ledgers x 2 topics + statements + checks",
            f"Dagster {dagster:.0f} s in {runs} runs ({files:,} files; reports byte-identical "
            f"to the bare loop: {same}); bare loop {bare:.0f} s",
            f"Dagster/bare {dagster / bare:.2f} (target <= 2); target year < 600 s",
        ]
    ]
