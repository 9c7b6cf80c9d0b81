"""``demo`` and ``simulate``: the commands that bring their own simulated Report API.

demo is the README's first command: it starts the simulator on loopback, runs the main job for
a few recent days of every simulated ledger on a SQLite Dagster instance, draws the report, and
prints where the files are and what the reconciliation found. simulate serves the same API for
anything else to call (the benchmarks, a pipeline started by hand).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo


def _venv_command(name: str) -> str:
    """A command of this virtualenv, as the user should type it (``.venv/bin/dagster``)."""
    path = Path(sys.executable).parent / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_demo(args: argparse.Namespace) -> int:
    from vipps_pipeline.cli import runs as headless
    from vipps_pipeline.outputs import html_report as report
    from vipps_pipeline.simulator import Simulator, World

    home = headless.dagster_home(args.dagster_home)
    import dagster as dg

    dg.DagsterInstance.get()  # Dagster's first-use notice prints here, before our summary
    from vipps_pipeline.settings import PipelineSettings

    pinned = PipelineSettings.from_env(os.environ).now_override  # a replay, and the tests
    sim = Simulator(World(seed=args.seed), clock=(lambda: pinned) if pinned else None).start()
    today = (pinned or datetime.now(UTC)).astimezone(ZoneInfo("Europe/Oslo")).date()
    end = today - timedelta(days=2)  # closed on every daily-settling simulated ledger
    start = end - timedelta(days=args.days - 1)
    data_dir = Path(args.data_dir)
    os.environ.update(sim.env("merchant"))
    os.environ.update({"VIPPS_DATA_DIR": str(data_dir), "VIPPS_START_DATE": start.isoformat()})
    print(f"Simulator on {sim.base_url}; Dagster instance (SQLite) in {home}")
    print(f"Running daily_ledger_job for {start} to {end}, one ranged run per ledger ...")
    try:
        results = headless.run_main_job(start, end)
    finally:
        sim.stop()
    print(_bank_loop(sim.world, data_dir, start, end, today - timedelta(days=1)))
    index, _ = report.write_report(data_dir)
    dates = [start + timedelta(days=k) for k in range(args.days)]
    for ledger_id, errors in results.items():
        for error in errors:
            print(f"  {ledger_id} {error}")
    print()
    print(headless.summary(data_dir, sorted(results), dates))
    print()
    print(f"Report with charts: {index.resolve()}")
    print(f"Browse the runs: DAGSTER_HOME={home} {_venv_command('dagster')} dev")
    print(f"Or everything live against the simulator: {_venv_command('vipps-pipeline')} dev")
    return 0


def _bank_loop(world, data_dir: Path, start: date, end: date, until: date) -> str:
    """The simulated bank's statements of the demo's payouts, imported and matched: the
    line the demo prints about them (docs/bank.md)."""
    from vipps_pipeline.books.bank.run import match_stored
    from vipps_pipeline.books.bank.store import import_files
    from vipps_pipeline.books.journal import load_chart
    from vipps_pipeline.settings.types import parse_bank_csv_columns
    from vipps_pipeline.simulator.bank import country, simulate_bank
    from vipps_pipeline.simulator.bank_files import write_bank_files

    bank = simulate_bank(world, start, end, until)
    accounts = {s.bank_account[1]: country(s) for s in world.ledgers.values()}
    files = write_bank_files(bank.lines, data_dir / "bank" / "demo", accounts, start, until)
    import_files(data_dir, files, parse_bank_csv_columns(""))
    outcome = match_stored(data_dir, 3, load_chart())
    counts = ", ".join(f"{n} {s}" for s, n in sorted(outcome.payouts.items()))
    return f"Bank statements ({len(files)} files in {data_dir / 'bank' / 'demo'}): {counts}"


def cmd_simulate(args: argparse.Namespace) -> int:
    from vipps_pipeline.simulator import DEMO_CREDENTIALS, Faults, Simulator, World
    from vipps_pipeline.simulator.model import LEDGERS, cloned_ledgers

    faults = Faults.all_transport_faults() if args.faults else Faults()
    faults.page_size = args.page_size
    if args.outage:
        faults.outage = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    large = {}
    for spec in args.large_day or []:
        ledger_id, day, n = spec.split(":")
        large[(ledger_id, date.fromisoformat(day))] = int(n)
    ledgers = cloned_ledgers(args.ledgers) if args.ledgers else LEDGERS
    world = World(seed=args.seed, ledgers=ledgers, faults=faults, large_days=large)
    sim = Simulator(world, port=args.port, prerender=args.prerender)
    if args.prerender:
        rendered = sim.prerender()
        print(f"Pre-rendered {rendered:,} entries of the closed large days", flush=True)
    sim.start()
    print(f"Report API simulator listening on {sim.base_url} (Ctrl-C to stop)", flush=True)
    print("Demo credentials (not secrets):")
    for key_type, creds in DEMO_CREDENTIALS.items():
        print(f"  {key_type}: " + ", ".join(f"{k}={v}" for k, v in creds.items()))
    print("Point the pipeline at it with:")
    for k, v in sim.env(args.key_type).items():
        print(f"  export {k}={v}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()
    return 0
