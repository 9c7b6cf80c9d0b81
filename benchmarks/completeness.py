"""B5: a two-year range of one ledger through Dagster (peak memory, time), and how long an
outage takes to fail a sync run with the default retry settings."""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta

from benchmarks.run import TODAY, child

RANGE = """
import json, os, resource, time, warnings
warnings.filterwarnings("ignore")
from datetime import date
from vipps_pipeline.cli.runs import dagster_home, run_main_job
dagster_home(os.environ["DAGSTER_HOME"])
t = time.perf_counter()
errors = run_main_job(date.fromisoformat("{start}"), date.fromisoformat("{end}"), ["100001"])
print(json.dumps({{"seconds": time.perf_counter() - t, "errors": errors["100001"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

OUTAGE = """
import json, os, time, warnings
warnings.filterwarnings("ignore")
from vipps_pipeline.cli.runs import dagster_home, run_sync
dagster_home(os.environ["DAGSTER_HOME"])
import dagster as dg
dg.DagsterInstance.get().add_dynamic_partitions("ledgers", ["100001"])
t = time.perf_counter()
code, text = run_sync(["100001"], list_ledgers=False)
print(json.dumps({"seconds": time.perf_counter() - t, "code": code, "text": text[-400:]}))
"""


def b5(n_days: int, sim_env, start_simulator) -> list[list[str]]:
    end = TODAY - timedelta(days=3)
    rows = []
    proc, port = start_simulator({})
    try:
        measured = {}
        for days in (n_days // 12, n_days):  # the same run, a month and the whole range
            start = end - timedelta(days=days - 1)
            with tempfile.TemporaryDirectory() as tmp:
                env = {
                    **sim_env(port),
                    "VIPPS_DATA_DIR": f"{tmp}/data",
                    "VIPPS_START_DATE": start.isoformat(),
                    "DAGSTER_HOME": f"{tmp}/home",
                }
                measured[days] = child(RANGE.format(start=start, end=end), env)
        short, got = measured[n_days // 12], measured[n_days]
        rows.append(
            [
                f"B5 one ledger, {n_days} days in one ranged run (Dagster, SQLite)",
                f"{got['seconds']:.0f} s; peak RSS {got['rss_mb']:.0f} MB (a {n_days // 12}-day "
                f"range: {short['rss_mb']:.0f} MB, {short['seconds']:.0f} s); errors: "
                f"{len(got['errors'])}",
                "memory must not grow with the range (statements and findings a month at a time)",
            ]
        )
    finally:
        proc.kill()
    proc, port = start_simulator({}, outage=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **sim_env(port),
                "VIPPS_DATA_DIR": f"{tmp}/data",
                "VIPPS_START_DATE": (TODAY - timedelta(days=30)).isoformat(),
                "DAGSTER_HOME": f"{tmp}/home",
            }
            t = time.perf_counter()
            got = child(OUTAGE, env)
            rows.append(
                [
                    "B5 outage: every request answers 503, default retries",
                    f"the sync run failed after {got['seconds']:.0f} s (exit {got['code']}; "
                    f"{time.perf_counter() - t:.0f} s with the process start)",
                    "fails in minutes, not hours: 3 ledger-days in a row "
                    "(VIPPS_MAX_CONSECUTIVE_ERRORS) x ~31 s of urllib3 backoff each",
                ]
            )
    finally:
        proc.kill()
    return rows
