"""``vipps-pipeline``: the demo, the simulator, and ranged runs from a terminal.

``demo`` is the README's first command: it starts the simulator on loopback, runs the main job
for a few recent days of every simulated ledger on a SQLite Dagster instance, and prints where
the files are and what the reconciliation found.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from vipps_pipeline.settings import SettingsError

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Step failures are summarised in one line each by :func:`run_main_job` instead."""


def _dagster_home(path: str) -> Path:
    home = Path(path).resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch()  # SQLite storage under this folder, the Dagster default
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _first_line(message: str) -> str:
    line = message.strip().splitlines()[0]
    return line.split("Failure: ", 1)[-1][:400]


def _load_dagster():
    """The project's definitions and the instance at DAGSTER_HOME, with the preview warnings
    this project knowingly relies on silenced (see README, "Known warnings")."""
    import dagster as dg

    for category in (dg.BetaWarning, dg.PreviewWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    from vipps_pipeline.definitions import defs

    return defs, dg.DagsterInstance.get()


def _failure_lines(result) -> list[str]:
    return [
        f"{event.step_key}: {_first_line(event.event_specific_data.error.message)}"
        for event in result.get_step_failure_events()
    ]


def refresh_ledgers(defs, instance) -> list[str]:
    """List the ledgers (registering new ones); returns the error lines (empty on success)."""
    refresh = defs.resolve_job_def("refresh_ledgers").execute_in_process(
        instance=instance, run_config=QUIET_LOGS, raise_on_error=False
    )
    return [] if refresh.success else _failure_lines(refresh)


def run_main_job(
    start: date, end: date, ledger_ids: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """Refresh the ledger list, then one ranged run of the main job per ledger.

    Settings come from the environment (read when the definitions load). Returns ledger -> the
    first line of each failed step's error (empty when the run succeeded; days that are not
    final yet are not errors). Runs are recorded in the instance at DAGSTER_HOME.
    """
    defs, instance = _load_dagster()
    errors = refresh_ledgers(defs, instance)
    if errors:
        raise SystemExit("listing ledgers failed: " + "; ".join(errors))
    ids = ledger_ids or instance.get_dynamic_partitions("ledgers")
    job = defs.resolve_job_def("daily_ledger_job")
    results = {}
    for ledger_id in ids:
        result = job.execute_in_process(
            instance=instance,
            run_config=QUIET_LOGS,
            raise_on_error=False,
            tags={
                "dagster/asset_partition_range_start": f"{start.isoformat()}|{ledger_id}",
                "dagster/asset_partition_range_end": f"{end.isoformat()}|{ledger_id}",
            },
        )
        results[ledger_id] = _failure_lines(result)
    return results


def run_sync(ledger_ids: Sequence[str] = (), list_ledgers: bool = True) -> tuple[int, str]:
    """One pass of the planner through Dagster: (exit code, what to print)."""
    from vipps_pipeline.defs.sync import freshness_rows, sync_ledgers
    from vipps_pipeline.settings import PipelineSettings

    defs, instance = _load_dagster()
    errors = refresh_ledgers(defs, instance) if list_ledgers else []
    ids = sorted(instance.get_dynamic_partitions("ledgers"))
    if errors and not ids:
        return 1, "listing ledgers failed: " + "; ".join(errors)
    result = defs.resolve_job_def("vipps_sync").execute_in_process(
        instance=instance,
        run_config={
            **QUIET_LOGS,
            "ops": {sync_ledgers.name: {"config": {"ledgers": list(ledger_ids)}}},
        },
        raise_on_error=False,
        tags={"vipps/trigger": "cli"},
    )
    errors += _failure_lines(result)
    stored: dict[str, set[str]] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            if mat.asset_key.path[-1].endswith("_report") and mat.partition:
                day, ledger = mat.partition.split("|")
                stored.setdefault(ledger, set()).add(day)
    settings = PipelineSettings.from_env(os.environ)
    rows = freshness_rows(settings, list(ledger_ids) or ids, settings.today())
    lines = [
        f"Sync run {result.run_id} ({'succeeded' if result.success else 'failed'}), "
        f"data in {settings.data_dir.resolve()}",
        "  ledger    final through  open since   stored now  status",
    ]
    for r in rows:
        new = sorted(stored.get(r.ledger_id, ()))
        span = f"{len(new)} day(s)" if new else "-"
        lines.append(
            f"  {r.ledger_id:<9} {r.final_through or '-'!s:<14} "
            f"{r.open_since or '-'!s:<12} {span:<11} {r.status}: {r.detail}"
        )
    lines += [f"error: {e}" for e in errors]
    bad = errors or any(r.status == "not_yours" for r in rows)
    return (1 if bad else 0), "\n".join(lines)


def _summary(data_dir: Path, ledger_ids: Sequence[str], dates: list[date]) -> str:
    import pyarrow.dataset as ds

    from vipps_pipeline.books import read_findings
    from vipps_pipeline.reconcile import summarize
    from vipps_pipeline.storage import REPORT_SCHEMA, report_path

    lines = [f"Parquet files under {data_dir.resolve()}:"]
    for topic in ("funds", "fees"):
        root = data_dir / "reports" / topic
        rows = (
            ds.dataset(root, format="parquet", schema=REPORT_SCHEMA).count_rows()
            if root.exists()
            else 0
        )
        lines.append(f"  reports/{topic:<6} {rows:>7} entries")
    for kind in ("statements", "reconciliation"):
        files = len(list((data_dir / kind).rglob("*.parquet")))
        lines.append(f"  {kind:<14} {files:>7} ledger-day files")
    lines.append(f"  ledgers.parquet   {len(ledger_ids)} ledgers")
    waiting = {
        lid: sum(not report_path(data_dir, "funds", lid, d).exists() for d in dates)
        for lid in ledger_ids
    }
    findings = read_findings(data_dir)
    findings = findings[findings.ledger_date.isin(dates)]
    table = summarize(findings).set_index("ledger_id") if len(findings) else None
    lines.append("")
    lines.append(f"Reconciliation, {dates[0]} to {dates[-1]} (days per ledger):")
    lines.append("  ledger   checked  passed  failed  pending  unknown  not ready yet")
    for lid in ledger_ids:
        if table is not None and lid in table.index:
            r = table.loc[lid]
            lines.append(
                f"  {lid:<8} {r.days:>7} {r.passed:>7} {r.failed:>7} {r.pending:>8} "
                f"{r.unknown:>8} {waiting[lid]:>14}"
            )
        else:
            lines.append(f"  {lid:<8} {0:>7} {0:>7} {0:>7} {0:>8} {0:>8} {waiting[lid]:>14}")
    lines.append(
        "  pending: a capture's fee window is still open; unknown: the day before is not stored;"
    )
    lines.append(
        "  not ready: the API still says 404 or tryLater (e.g. monthly settlement); "
        "automation fetches it later."
    )
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    from vipps_pipeline.simulator import Simulator, World

    sim = Simulator(World(seed=args.seed)).start()
    today = datetime.now(ZoneInfo("Europe/Oslo")).date()
    end = today - timedelta(days=2)  # closed on every daily-settling simulated ledger
    start = end - timedelta(days=args.days - 1)
    data_dir = Path(args.data_dir)
    os.environ.update(sim.env("merchant"))
    os.environ.update(
        {
            "VIPPS_DATA_DIR": str(data_dir),
            "VIPPS_START_DATE": start.isoformat(),
        }
    )
    home = _dagster_home(args.dagster_home)
    print(f"Simulator on {sim.base_url}; Dagster instance (SQLite) in {home}")
    print(f"Running daily_ledger_job for {start} to {end}, one ranged run per ledger ...")
    try:
        results = run_main_job(start, end)
    finally:
        sim.stop()
    dates = [start + timedelta(days=k) for k in range(args.days)]
    for ledger_id, errors in results.items():
        for error in errors:
            print(f"  {ledger_id} {error}")
    print()
    print(_summary(data_dir, sorted(results), dates))
    print()
    print(f"Browse the runs: DAGSTER_HOME={home} dagster dev   (see README: 'Open the UI')")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import time

    from vipps_pipeline.simulator import DEMO_CREDENTIALS, Faults, Simulator, World

    faults = Faults.all_transport_faults() if args.faults else Faults()
    faults.page_size = args.page_size
    if args.outage:
        faults.outage = (
            datetime.min.replace(tzinfo=ZoneInfo("UTC")),
            datetime.max.replace(tzinfo=ZoneInfo("UTC")),
        )
    large = {}
    for spec in args.large_day or []:
        ledger_id, day, n = spec.split(":")
        large[(ledger_id, date.fromisoformat(day))] = int(n)
    from vipps_pipeline.simulator.model import LEDGERS, cloned_ledgers

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


def cmd_dev(args: argparse.Namespace) -> int:
    """The Dagster UI against the embedded simulator: nothing to configure."""
    import subprocess

    from vipps_pipeline.simulator import Simulator, World

    sim = Simulator(World(seed=args.seed), port=args.sim_port).start()
    start = datetime.now(ZoneInfo("Europe/Oslo")).date() - timedelta(days=args.days)
    env = {**os.environ, **sim.env("merchant")}
    env.setdefault("VIPPS_START_DATE", start.isoformat())
    env["DAGSTER_HOME"] = str(_dagster_home(args.dagster_home))
    print(f"Simulator on {sim.base_url}; partitions from {env['VIPPS_START_DATE']}")
    try:
        return subprocess.call(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-m",
                "vipps_pipeline.definitions",
                "-p",
                str(args.port),
            ],
            env=env,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        sim.stop()


def cmd_sync(args: argparse.Namespace) -> int:
    _dagster_home(args.dagster_home)
    code, text = run_sync(args.ledger or (), list_ledgers=not args.no_ledger_list)
    print(text)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    _dagster_home(args.dagster_home)
    results = run_main_job(
        date.fromisoformat(args.start), date.fromisoformat(args.end), args.ledger or None
    )
    for ledger_id, errors in results.items():
        print(f"{ledger_id}: {'succeeded' if not errors else 'failed'}")
        for error in errors:
            print(f"  {error}")
    return 1 if any(results.values()) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vipps-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job against the embedded simulator")
    demo.add_argument("--days", type=int, default=5)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--data-dir", default="data")
    demo.add_argument("--dagster-home", default=".dagster_home")
    demo.set_defaults(func=cmd_demo)
    sim = sub.add_parser("simulate", help="serve the simulated Report API on 127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--key-type", choices=("merchant", "partner"), default="merchant")
    sim.add_argument("--page-size", type=int, default=1000)
    sim.add_argument("--faults", action="store_true", help="switch on every transport fault")
    sim.add_argument("--outage", action="store_true", help="answer every request with 503")
    sim.add_argument("--large-day", action="append", metavar="LEDGER:YYYY-MM-DD:ENTRIES")
    sim.add_argument(
        "--prerender",
        action="store_true",
        help="render the pages of closed large days once and serve them as bytes (benchmarks)",
    )
    sim.add_argument(
        "--ledgers",
        type=int,
        default=0,
        help="serve N cloned daily ledgers 200001.. instead of the four demo ones",
    )
    sim.set_defaults(func=cmd_simulate)
    dev = sub.add_parser("dev", help="open the Dagster UI against the embedded simulator")
    dev.add_argument("--port", type=int, default=3000, help="UI port")
    dev.add_argument("--sim-port", type=int, default=0, help="simulator port (0: any free)")
    dev.add_argument("--days", type=int, default=90, help="partitions start this many days ago")
    dev.add_argument("--seed", type=int, default=0)
    dev.add_argument("--dagster-home", default=".dagster_home")
    dev.set_defaults(func=cmd_dev)
    sync = sub.add_parser(
        "sync",
        help="fetch every ledger from where it stopped to yesterday, reconcile (for cron)",
        description="One pass of the planner through Dagster on the instance in DAGSTER_HOME: "
        "list the ledgers, walk each from its first date not stored final up to yesterday, "
        "stopping at the first date that is not ready, and reconcile what arrived. Never waits "
        "for a day that is not ready: run it hourly. Exit status 0 when only not-ready days "
        "remain, 1 on any error or a ledger whose 404 persists.",
    )
    sync.add_argument("--ledger", action="append", help="only this ledger (repeatable)")
    sync.add_argument("--no-ledger-list", action="store_true", help="do not list the ledgers first")
    sync.add_argument("--dagster-home", default=os.environ.get("DAGSTER_HOME", ".dagster_home"))
    sync.set_defaults(func=cmd_sync)
    run = sub.add_parser("run", help="run the main job for a date range against VIPPS_BASE_URL")
    run.add_argument("--start", required=True, help="first ledger date YYYY-MM-DD")
    run.add_argument("--end", required=True, help="last ledger date YYYY-MM-DD")
    run.add_argument("--ledger", action="append", help="only this ledger (repeatable)")
    run.add_argument("--dagster-home", default=os.environ.get("DAGSTER_HOME", ".dagster_home"))
    run.set_defaults(func=cmd_run)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
