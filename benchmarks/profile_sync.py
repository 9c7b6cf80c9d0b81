"""Where a first sync's time goes, by stage, per ledger-day (B7's companion).

Runs ``vipps-pipeline sync``'s code in this process on a fresh embedded default against N
simulated ledgers x D days, with a timer around each stage's function. Time is charged to the
innermost stage running on the main thread (a stage inside another is not counted twice), so
the stages and "other" add up to the whole sync. ``--cprofile FILE`` also writes a cProfile
dump of the same run, for the functions within a stage.

Run from the repository root: ``.venv/bin/python -m benchmarks.profile_sync 2 365``.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.run import TODAY, sim_env, start_simulator


class Stages:
    """Exclusive time per stage on the main thread."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack: list[list[Any]] = []
        self.main = threading.get_ident()

    def enter(self, name: str) -> bool:
        if threading.get_ident() != self.main:
            return False
        now = time.perf_counter()
        if self.stack:
            self.totals[self.stack[-1][0]] += now - self.stack[-1][1]
        self.stack.append([name, now])
        self.calls[name] += 1
        return True

    def leave(self) -> None:
        now = time.perf_counter()
        name, start = self.stack.pop()
        self.totals[name] += now - start
        if self.stack:
            self.stack[-1][1] = now

    def func(self, owner: Any, attr: str, name: str) -> None:
        inner = getattr(owner, attr)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            entered = self.enter(name)
            try:
                return inner(*args, **kwargs)
            finally:
                if entered:
                    self.leave()

        setattr(owner, attr, timed)

    def gen(self, owner: Any, attr: str, name: str) -> None:
        """A generator function: each step of the generator is timed, not its consumer."""
        inner = getattr(owner, attr)
        stages = self

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            it = inner(*args, **kwargs)
            try:
                while True:
                    entered = stages.enter(name)
                    try:
                        item = next(it)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        if entered:
                            stages.leave()
                    yield item
            finally:
                it.close()

        setattr(owner, attr, timed)

    def cm(self, owner: Any, attr: str, name: str) -> None:
        """A context manager: its entering and leaving are timed, not its body."""
        inner = getattr(owner, attr)
        stages = self

        @contextmanager
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            manager = inner(*args, **kwargs)
            entered = stages.enter(name)
            try:
                value = manager.__enter__()
            finally:
                if entered:
                    stages.leave()
            try:
                yield value
            except BaseException:
                if not manager.__exit__(*sys.exc_info()):
                    raise
            else:
                entered = stages.enter(name)
                try:
                    manager.__exit__(None, None, None)
                finally:
                    if entered:
                        stages.leave()

        setattr(owner, attr, timed)


def instrument(stages: Stages) -> None:
    """Put the timers around each stage's function, wherever the callers look it up."""
    from vipps_pipeline.api.client import ReportClient
    from vipps_pipeline.books import derive
    from vipps_pipeline.defs.recording import recorder
    from vipps_pipeline.store import atomic, state
    from vipps_pipeline.sync import completeness, engine

    stages.gen(ReportClient, "iter_report_pages", "fetch + decode pages (waiting on them)")
    stages.func(engine, "fetch_day", "write reports (Parquet, summaries)")
    stages.func(derive, "write_statements", "statements")
    stages.func(derive, "write_findings", "findings")
    stages.func(derive, "write_journal", "journal Parquet")
    stages.func(derive, "write_csv", "journal CSV")
    stages.func(state, "_save", "state writes")
    stages.func(state, "load", "state reads")
    stages.func(completeness._Verified, "save", "verified-footer cache write")
    stages.func(completeness, "scan", "listing (scan)")
    stages.func(completeness.Inventory, "wrote", "inventory upkeep (stat)")
    for module in (engine, state, atomic):
        if hasattr(module, "ledger_lock"):
            stages.cm(module, "ledger_lock", "locks")
    from vipps_pipeline.defs.recording import evaluations
    from vipps_pipeline.lake import commit as lake

    stages.func(lake, "commit_ledger", "table commits (Delta)")
    stages.gen(evaluations.Evaluator, "evaluations", "Dagster records: check evaluations built")
    stages.gen(recorder.Recorder, "handle", "Dagster records: metadata")
    stages.gen(recorder.Recorder, "flush", "Dagster records: batches, evaluations")


def instrument_storage(stages: Stages) -> None:
    import dagster as dg

    storage = type(dg.DagsterInstance.get().event_log_storage)
    stages.func(storage, "store_event", "Dagster event log writes")
    stages.func(storage, "store_event_batch", "Dagster event log writes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ledgers", type=int)
    parser.add_argument("days", type=int)
    parser.add_argument("--cprofile", help="also write a cProfile dump here")
    args = parser.parse_args(argv)
    proc, port = start_simulator({}, ledgers=args.ledgers)
    last = TODAY - timedelta(days=1)
    first = last - timedelta(days=args.days - 1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.update(sim_env(port))
            os.environ.update({"VIPPS_START_DATE": str(first), "VIPPS_DATA_DIR": f"{tmp}/data"})
            os.environ["VIPPS_SYNC_RUNS"] = "1"  # one run, in this process: the one timed
            table = profile(Path(tmp), args.cprofile)
    finally:
        proc.kill()
    print(table)
    return 0


def profile(tmp: Path, dump: str | None) -> str:
    from vipps_pipeline.cli.runs import dagster_home, load_dagster, run_sync

    dagster_home(str(tmp / "home"))
    load_dagster()  # imports and definitions: start-up, not the sync's per-day cost
    stages = Stages()
    instrument(stages)
    instrument_storage(stages)
    profiler = cProfile.Profile() if dump else None
    t = time.perf_counter()
    if profiler:
        profiler.enable()
    code, text = run_sync()
    if profiler:
        profiler.disable()
        profiler.dump_stats(dump)
    total = time.perf_counter() - t
    if code != 0:
        raise SystemExit(text)
    ledger_days = len(list((tmp / "data" / "reports" / "funds").rglob("*.parquet")))
    return table_of(stages, total, ledger_days)


def table_of(stages: Stages, total: float, ledger_days: int) -> str:
    other = total - sum(stages.totals.values())
    rows = [*sorted(stages.totals.items(), key=lambda kv: -kv[1]), ("other", other)]
    lines = [
        f"sync {total:.1f} s for {ledger_days} ledger-days "
        f"({ledger_days / total:.1f} ledger-days/s, {total / ledger_days * 1000:.1f} ms each)",
        "| stage | s | ms per ledger-day | share | calls |",
        "|---|---|---|---|---|",
    ]
    for name, seconds in rows:
        lines.append(
            f"| {name} | {seconds:.2f} | {seconds / ledger_days * 1000:.2f} | "
            f"{seconds / total:.0%} | {stages.calls.get(name, '')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
