"""vipps-pipeline: the demo, the UI, the simulator, the sync, the feed, and questions to the data.

demo is the README's first command: it starts the simulator on loopback, runs the main job for
a few recent days of every simulated ledger on a SQLite Dagster instance, draws the report, and
prints where the files are and what the reconciliation found.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from vipps_pipeline.settings import SettingsError

DEV_WARNINGS = "ignore:Function `dev_command` is superseded"
"""`dagster dev` announces that `dg dev` supersedes it; `dg` is a separate tool this project
does not need, so the notice is only noise in the first minute."""


def _bin(name: str) -> str:
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
    index, _ = report.write_report(data_dir)
    dates = [start + timedelta(days=k) for k in range(args.days)]
    for ledger_id, errors in results.items():
        for error in errors:
            print(f"  {ledger_id} {error}")
    print()
    print(headless.summary(data_dir, sorted(results), dates))
    print()
    print(f"Report with charts: {index.resolve()}")
    print(f"Browse the runs: DAGSTER_HOME={home} {_bin('dagster')} dev")
    print(f"Or everything live against the simulator: {_bin('vipps-pipeline')} dev")
    return 0


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


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _announce_when_up(url: str, port: int) -> None:
    """Print the UI's address once the webserver answers (Dagster's own line is buried)."""
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            time.sleep(0.5)
            continue
        print(f"\n  Dagster UI: {url}   (Ctrl-C to stop)\n", flush=True)
        return


def cmd_dev(args: argparse.Namespace) -> int:
    """The Dagster UI against the embedded simulator: nothing to configure."""
    from vipps_pipeline.cli.runs import dagster_home
    from vipps_pipeline.defs import BOOKKEEPING_ENV
    from vipps_pipeline.simulator import Simulator, World

    port = args.port
    if port is None:
        port = next(p for p in range(3000, 3100) if _free(p))
    elif not _free(port):
        print(f"error: --port {port} is in use; choose another, or leave it out", file=sys.stderr)
        return 2
    sim = Simulator(World(seed=args.seed), port=args.sim_port).start()
    start = datetime.now(ZoneInfo("Europe/Oslo")).date() - timedelta(days=args.days)
    env = {**BOOKKEEPING_ENV, **os.environ, **sim.env("merchant")}
    env.setdefault("VIPPS_START_DATE", start.isoformat())
    env["DAGSTER_HOME"] = str(dagster_home(args.dagster_home))
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), DEV_WARNINGS]))
    url = f"http://127.0.0.1:{port}"
    print(f"Simulator on {sim.base_url}; partitions from {env['VIPPS_START_DATE']}")
    print(f"Starting Dagster (webserver and daemon) on {url} ...")
    threading.Thread(target=_announce_when_up, args=(url, port), daemon=True).start()
    command = [sys.executable, "-m", "dagster", "dev", "-m", "vipps_pipeline.definitions"]
    try:
        return subprocess.call([*command, "-h", "127.0.0.1", "-p", str(port)], env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        sim.stop()


def _date_arg(raw: str, flag: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{flag} must be a date YYYY-MM-DD, got {raw!r}") from None


def _ledger_args(ids: Sequence[str] | None) -> list[str]:
    """``--ledger`` values end up in file paths: refused here in one line, not in a step."""
    from vipps_pipeline.settings import validate_ledger_id

    return [validate_ledger_id(i, "--ledger") for i in ids or ()]


def _writable_data_dir():
    """The settings, once the data directory is known to be a folder this process can write
    (created when missing): otherwise every ledger's step fails with the same traceback."""
    import tempfile

    from vipps_pipeline.settings import PipelineSettings
    from vipps_pipeline.store.objstore import is_remote

    settings = PipelineSettings.from_env(os.environ)
    if is_remote(settings.data_dir):
        return settings
    path = Path(settings.data_dir)
    if path.exists() and not path.is_dir():
        raise SettingsError(f"VIPPS_DATA_DIR {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"VIPPS_DATA_DIR {path} cannot be created: {exc.strerror or exc}"
        ) from None
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", suffix=".tmp"):
            pass
    except OSError as exc:
        why = exc.strerror or exc
        raise SettingsError(f"VIPPS_DATA_DIR {path} is not writable: {why}") from None
    return settings


def cmd_sync(args: argparse.Namespace) -> int:
    from vipps_pipeline.cli.runs import dagster_home, run_sync

    ledgers = _ledger_args(args.ledger)
    settings = _writable_data_dir()
    yesterday = settings.today() - timedelta(days=1)
    if settings.start_date > yesterday:
        raise SettingsError(
            f"VIPPS_START_DATE {settings.start_date} is after yesterday ({yesterday} in "
            f"{settings.timezone}): no date can be final yet, so there is nothing to sync"
        )
    dagster_home(args.dagster_home)
    code, text = run_sync(ledgers, list_ledgers=not args.no_ledger_list)
    print(text)
    return code


def cmd_feed(args: argparse.Namespace) -> int:
    from vipps_pipeline.cli.runs import dagster_home, run_feed

    ledgers = _ledger_args(args.ledger)
    _writable_data_dir()
    dagster_home(args.dagster_home)
    code, text = run_feed(ledgers, list_ledgers=not args.no_ledger_list)
    print(text)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    from vipps_pipeline.cli.runs import dagster_home, run_main_job

    start, end = _date_arg(args.start, "--start"), _date_arg(args.end, "--end")
    ledgers = _ledger_args(args.ledger)
    if start > end:
        raise SettingsError(f"--start {start} is after --end {end}: the range is reversed")
    settings = _writable_data_dir()
    today = settings.today()
    if end >= today:
        raise SettingsError(
            f"--end {end} is not over yet (today is {today} in {settings.timezone}): the last "
            f"date that can be final is {today - timedelta(days=1)}"
        )
    if start < settings.start_date:
        raise SettingsError(
            f"--start {start} is before VIPPS_START_DATE ({settings.start_date}): there are no "
            "partitions before it"
        )
    dagster_home(args.dagster_home)
    results = run_main_job(start, end, ledgers or None)
    for ledger_id, errors in results.items():
        print(f"{ledger_id}: {'succeeded' if not errors else 'failed'}")
        for error in errors:
            print(f"  {error}")
    return 1 if any(results.values()) else 0


def _data_dir(args: argparse.Namespace) -> Path:
    from vipps_pipeline.settings import PipelineSettings
    from vipps_pipeline.store.objstore import as_dir

    if args.data_dir:
        return as_dir(args.data_dir)
    return PipelineSettings.from_env(os.environ).data_dir


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    from vipps_pipeline.outputs.query import QUESTIONS, run

    sql = QUESTIONS.get(args.sql, args.sql)
    try:
        run(_data_dir(args), sql, as_csv=args.csv)
    except duckdb.Error as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vipps_pipeline.outputs.html_report import write_report

    index, pictures = write_report(_data_dir(args))
    print(f"{len(pictures)} ledger(s) drawn: {index.resolve()}")
    return 0


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, but not the empty ones (None, False) that say nothing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    from vipps_pipeline.outputs.query import QUESTIONS

    help_format = _Help
    parser = argparse.ArgumentParser(
        prog="vipps-pipeline",
        description="Vipps MobilePay Report API to reconciled Parquet, through Dagster.",
        formatter_class=help_format,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    home_default = os.environ.get("DAGSTER_HOME", ".dagster_home")

    def add(name: str, summary: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=summary,
            description=kw.pop("description", summary),
            formatter_class=help_format,
            **kw,
        )

    demo = add("demo", "run the main job against the embedded simulator and print a summary")
    demo.add_argument("--days", type=int, default=5, help="closed ledger dates to fetch")
    demo.add_argument("--seed", type=int, default=0, help="simulator seed")
    demo.add_argument("--data-dir", default="data", help="where Parquet files go")
    demo.add_argument("--dagster-home", default=".dagster_home", help="Dagster instance folder")
    demo.set_defaults(func=cmd_demo)

    dev = add("dev", "open the Dagster UI (webserver and daemon) against the simulator")
    dev.add_argument(
        "--port", type=int, default=None, help="UI port (default: 3000 or the next free one)"
    )
    dev.add_argument("--sim-port", type=int, default=0, help="simulator port (0: any free)")
    dev.add_argument("--days", type=int, default=90, help="partitions start this many days ago")
    dev.add_argument("--seed", type=int, default=0, help="simulator seed")
    dev.add_argument("--dagster-home", default=".dagster_home", help="Dagster instance folder")
    dev.set_defaults(func=cmd_dev)

    sim = add("simulate", "serve the simulated Report API on 127.0.0.1")
    sim.add_argument("--port", type=int, default=8765, help="port to listen on")
    sim.add_argument("--seed", type=int, default=0, help="simulator seed")
    sim.add_argument(
        "--key-type",
        choices=("merchant", "partner"),
        default="merchant",
        help="which credentials the printed exports use",
    )
    sim.add_argument("--page-size", type=int, default=1000, help="entries per page")
    sim.add_argument("--faults", action="store_true", help="switch on every transport fault")
    sim.add_argument("--outage", action="store_true", help="answer every request with 503")
    sim.add_argument(
        "--large-day",
        action="append",
        metavar="LEDGER:YYYY-MM-DD:ENTRIES",
        help="serve a day of this many entries (repeatable)",
    )
    sim.add_argument(
        "--prerender",
        action="store_true",
        help="render the pages of closed large days once and serve them as bytes (benchmarks)",
    )
    sim.add_argument(
        "--ledgers",
        type=int,
        default=0,
        help="serve N cloned daily ledgers 200001.. instead of the seven demo ones",
    )
    sim.set_defaults(func=cmd_simulate)

    sync = add(
        "sync",
        "fetch every ledger from where it stopped to yesterday, and reconcile (for cron)",
        description="One pass of the planner through Dagster on the instance in DAGSTER_HOME: "
        "list the ledgers, walk each from its first date not stored final up to yesterday, "
        "stopping at the first date that is not ready, and reconcile what arrived. Never waits "
        "for a day that is not ready: run it hourly. Exit status 0 when only not-ready days "
        "remain, 1 on any error or a ledger whose 404 persists.",
    )
    sync.add_argument("--ledger", action="append", help="only this ledger (repeatable)")
    sync.add_argument("--no-ledger-list", action="store_true", help="do not list the ledgers first")
    sync.add_argument("--dagster-home", default=home_default, help="Dagster instance folder")
    sync.set_defaults(func=cmd_sync)

    feed = add(
        "feed",
        "read every ledger's feed until caught up: today's entries (for cron)",
        description="One catch-up pass of every ledger's feed (funds and fees) through Dagster "
        "on the instance in DAGSTER_HOME: list the ledgers, read each feed from its saved "
        "cursor until the API says it is caught up, store the new entries as provisional "
        "Parquet, compare the dates that closed with their reports, and print per ledger the "
        "entries added and the newest entry's time. Exit status 0 on success, 1 on any error.",
    )
    feed.add_argument("--ledger", action="append", help="only this ledger (repeatable)")
    feed.add_argument("--no-ledger-list", action="store_true", help="do not list the ledgers first")
    feed.add_argument("--dagster-home", default=home_default, help="Dagster instance folder")
    feed.set_defaults(func=cmd_feed)

    run = add("run", "fetch and reconcile a date range again, one run per ledger")
    run.add_argument("--start", required=True, help="first ledger date YYYY-MM-DD")
    run.add_argument("--end", required=True, help="last ledger date YYYY-MM-DD")
    run.add_argument("--ledger", action="append", help="only this ledger (repeatable)")
    run.add_argument("--dagster-home", default=home_default, help="Dagster instance folder")
    run.set_defaults(func=cmd_run)

    query = add(
        "query",
        "ask the stored data in SQL (DuckDB views: entries, statements, findings, journal, "
        "ledgers)",
        description="Run SQL over DuckDB views of the stored Parquet: entries, statements, "
        "findings, journal, ledgers; major(amount, currency) turns minor units into major "
        "ones. SQL may also be the name of a ready-made question: "
        + "; ".join(f'"{q}"' for q in QUESTIONS),
    )
    query.add_argument("sql", help="a SELECT statement, or the name of a ready-made question")
    query.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    query.add_argument("--data-dir", default=None, help="data folder (default: VIPPS_DATA_DIR)")
    query.set_defaults(func=cmd_query)

    rep = add("report", "draw every ledger's charts and the static HTML report")
    rep.add_argument("--data-dir", default=None, help="data folder (default: VIPPS_DATA_DIR)")
    rep.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
