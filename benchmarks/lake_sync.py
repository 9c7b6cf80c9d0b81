"""B6's sync half: a year's sync of a few ledgers through the engine against the simulator,
with and without the table commits at each month chunk's end, and with the commits reading the
chunk's files back as first written (each run in a fresh process and
data directory, interleaved), so the commits' cost to the sync is a ratio within one run.
"""

from __future__ import annotations

import statistics
import tempfile
from datetime import timedelta

from benchmarks.run import TODAY

SYNC = """
import json, os, time
from datetime import date
from vipps_pipeline.sync import commits, engine as lr
from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings, PipelineSettings
if os.environ["BENCH_TABLES"] == "0":  # the engine as before the tables: no chunk-end commit
    def chunk_end(work, first, inv, settings, kept):
        yield lr.ChunkDone(work.ledger_id)
    commits.chunk_end = chunk_end
if os.environ["BENCH_TABLES"] == "reread":  # the commits as first written: the ledger listed
    real_end = commits.chunk_end             # again, the chunk's files read back
    def chunk_end(work, first, inv, settings, kept):
        return real_end(work, first, None, settings, commits.lake.Kept())
    commits.chunk_end = chunk_end
settings = PipelineSettings.from_env(os.environ)
client = ReportClient(ApiSettings.from_env(os.environ))
dates = tuple(date.fromisoformat(d) for d in {dates!r})
t = time.perf_counter()
for ledger in {ledgers!r}:
    for event in lr.run_ledger(lr.Work(ledger, dates), client=client,
                               settings=settings, breaker=lr.Breaker(3)):
        assert not isinstance(event, lr.DayFailed), event
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""


def sync_overhead(n_ledgers: int, n_days: int, repeats: int) -> list[str]:
    """The engine over ``n_days`` of ``n_ledgers`` against the simulator, with and without
    its table commits, interleaved (each in a fresh process and data directory)."""
    from benchmarks.run import child, sim_env, start_simulator

    end = TODAY - timedelta(days=10)
    dates = [(end - timedelta(days=k)).isoformat() for k in range(n_days)][::-1]
    ledgers = ["100001", "100002", "100003"][:n_ledgers]
    proc, port = start_simulator({})
    runs: dict[str, list[float]] = {"0": [], "reread": [], "1": []}
    try:
        for _ in range(repeats):
            for flag in runs:
                with tempfile.TemporaryDirectory() as tmp:
                    env = {**sim_env(port), "VIPPS_DATA_DIR": tmp, "VIPPS_START_DATE": dates[0]}
                    code = SYNC.format(dates=dates, ledgers=ledgers)
                    runs[flag].append(child(code, {**env, "BENCH_TABLES": flag})["seconds"])
    finally:
        proc.kill()
    without, with_ = statistics.median(runs["0"]), statistics.median(runs["1"])
    reread = statistics.median(runs["reread"])
    return [
        f"B6 lake: sync of {n_ledgers} ledgers x {n_days} days (engine, simulator)",
        f"with the table commits {with_:.1f} s, without {without:.1f} s; the commits reading "
        f"the files back {reread:.1f} s (medians of {repeats}, interleaved)",
        f"with/without {with_ / without:.2f} (target <= 1.10); reading back/without "
        f"{reread / without:.2f}",
    ]
