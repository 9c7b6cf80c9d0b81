"""The ``vipps-pipeline`` argument parser: one ``add_<command>`` per command, in help order.

Each adds its subcommand's flags and points ``func`` at the command that runs it, so a command's
whole surface (flags, defaults, help) is read in one short function.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from vipps_pipeline.cli.bank import cmd_bank_import
from vipps_pipeline.cli.data import cmd_query, cmd_report
from vipps_pipeline.cli.demo import cmd_demo, cmd_simulate
from vipps_pipeline.cli.dev import cmd_dev
from vipps_pipeline.cli.fetch import cmd_feed, cmd_run, cmd_sync
from vipps_pipeline.cli.tables import cmd_tables

Subparsers = argparse._SubParsersAction
"""What ``add_subparsers`` returns (argparse names it only privately)."""


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, but not the empty ones (None, False) that say nothing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _command(sub: Subparsers, name: str, summary: str, **kw: Any) -> argparse.ArgumentParser:
    """A subcommand whose description defaults to its one-line summary in the command list."""
    return sub.add_parser(
        name,
        help=summary,
        description=kw.pop("description", summary),
        formatter_class=_Help,
        **kw,
    )


def _home_default() -> str:
    """The commands meant for a deployment follow its DAGSTER_HOME; demo and dev keep their own."""
    return os.environ.get("DAGSTER_HOME", ".dagster_home")


def add_demo(sub: Subparsers) -> None:
    demo = _command(
        sub, "demo", "run the main job against the embedded simulator and print a summary"
    )
    demo.add_argument("--days", type=int, default=5, help="closed ledger dates to fetch")
    demo.add_argument("--seed", type=int, default=0, help="simulator seed")
    demo.add_argument("--data-dir", default="data", help="where Parquet files go")
    demo.add_argument("--dagster-home", default=".dagster_home", help="Dagster instance folder")
    demo.set_defaults(func=cmd_demo)


def add_dev(sub: Subparsers) -> None:
    dev = _command(sub, "dev", "open the Dagster UI (webserver and daemon) against the simulator")
    dev.add_argument(
        "--port", type=int, default=None, help="UI port (default: 3000 or the next free one)"
    )
    dev.add_argument("--sim-port", type=int, default=0, help="simulator port (0: any free)")
    dev.add_argument("--days", type=int, default=90, help="partitions start this many days ago")
    dev.add_argument("--seed", type=int, default=0, help="simulator seed")
    dev.add_argument("--dagster-home", default=".dagster_home", help="Dagster instance folder")
    dev.set_defaults(func=cmd_dev)


def add_simulate(sub: Subparsers) -> None:
    sim = _command(sub, "simulate", "serve the simulated Report API on 127.0.0.1")
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


def _ledger_pass_flags(command: argparse.ArgumentParser) -> None:
    """The flags ``sync`` and ``feed`` share: both walk every registered ledger by default."""
    command.add_argument("--ledger", action="append", help="only this ledger (repeatable)")
    command.add_argument(
        "--no-ledger-list", action="store_true", help="do not list the ledgers first"
    )
    command.add_argument("--dagster-home", default=_home_default(), help="Dagster instance folder")


def add_sync(sub: Subparsers) -> None:
    sync = _command(
        sub,
        "sync",
        "fetch every ledger from where it stopped to yesterday, and reconcile (for cron)",
        description="One pass of the planner through Dagster on the instance in DAGSTER_HOME: "
        "list the ledgers, walk each from its first date not stored final up to yesterday, "
        "stopping at the first date that is not ready, and reconcile what arrived. Never waits "
        "for a day that is not ready: run it hourly. The ledgers are dealt over VIPPS_SYNC_RUNS "
        "runs at once (by default one per core, at most 4), each a Dagster run of its own. Exit "
        "status 0 when only not-ready days remain, 1 on any error or a ledger whose 404 persists.",
    )
    _ledger_pass_flags(sync)
    sync.set_defaults(func=cmd_sync)


def add_feed(sub: Subparsers) -> None:
    feed = _command(
        sub,
        "feed",
        "read every ledger's feed until caught up: today's entries (for cron)",
        description="One catch-up pass of every ledger's feed (funds and fees) through Dagster "
        "on the instance in DAGSTER_HOME: list the ledgers, read each feed from its saved "
        "cursor until the API says it is caught up, store the new entries as provisional "
        "Parquet, compare the dates that closed with their reports, and print per ledger the "
        "entries added and the newest entry's time. Exit status 0 on success, 1 on any error.",
    )
    _ledger_pass_flags(feed)
    feed.set_defaults(func=cmd_feed)


def add_run(sub: Subparsers) -> None:
    run = _command(sub, "run", "fetch and reconcile a date range again, one run per ledger")
    run.add_argument("--start", required=True, help="first ledger date YYYY-MM-DD")
    run.add_argument("--end", required=True, help="last ledger date YYYY-MM-DD")
    run.add_argument("--ledger", action="append", help="only this ledger (repeatable)")
    run.add_argument("--dagster-home", default=_home_default(), help="Dagster instance folder")
    run.set_defaults(func=cmd_run)


def add_query(sub: Subparsers) -> None:
    from vipps_pipeline.outputs.query import QUESTIONS

    query = _command(
        sub,
        "query",
        "ask the stored data in SQL (DuckDB views: entries, statements, findings, journal, "
        "ledgers, payouts, bank_lines)",
        description="Run SQL over DuckDB views of the stored Parquet: entries, statements, "
        "findings, journal, ledgers, payouts, bank_lines; major(amount, currency) turns minor "
        "units into exact "
        "decimal major ones. SQL may also be the name of a ready-made question: "
        + "; ".join(f'"{q}"' for q in QUESTIONS),
    )
    query.add_argument("sql", help="a SELECT statement, or the name of a ready-made question")
    query.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    query.add_argument("--data-dir", default=None, help="data folder (default: VIPPS_DATA_DIR)")
    query.add_argument(
        "--as-of",
        default=None,
        metavar="TIMESTAMP",
        help="answer from the tables as they stood then (ISO 8601, e.g. 2026-12-01T08:00+01:00; "
        "no offset: UTC), back to VIPPS_TABLE_RETENTION_DAYS",
    )
    query.set_defaults(func=cmd_query)


def add_report(sub: Subparsers) -> None:
    rep = _command(sub, "report", "draw every ledger's charts and the static HTML report")
    rep.add_argument("--data-dir", default=None, help="data folder (default: VIPPS_DATA_DIR)")
    rep.set_defaults(func=cmd_report)


def add_bank(sub: Subparsers) -> None:
    bank = _command(sub, "bank", "bank statements: import them and match every payout")
    actions = bank.add_subparsers(dest="bank_command", required=True, metavar="ACTION")
    imp = _command(
        actions,
        "import",
        "store the lines of camt.053 or CSV statements once and match every stored payout",
        description="Read each FILE (ISO 20022 camt.053, or a CSV with the columns of "
        "VIPPS_BANK_CSV_COLUMNS), store lines not stored yet, then decide every payout again: "
        "matched, amount_differs, in_transit, missing, not_covered or aborted (docs/bank.md). "
        "Exit status "
        "1 when a file was refused or a payout is missing or differs.",
    )
    imp.add_argument("files", nargs="+", metavar="FILE", help="bank statement files")
    imp.add_argument("--data-dir", default=None, help="data folder (default: VIPPS_DATA_DIR)")
    imp.set_defaults(func=cmd_bank_import)


def add_tables(sub: Subparsers) -> None:
    tables = _command(
        sub,
        "tables",
        "keep the Delta tables: compact and vacuum them, or build them from the landing files",
    )
    tables.add_argument("action", choices=["compact", "build"], help="what to do")
    tables.add_argument("--data-dir", default=None, help="data folder (default: VIPPS_DATA_DIR)")
    tables.set_defaults(func=cmd_tables)


COMMANDS = (
    add_demo,
    add_dev,
    add_simulate,
    add_sync,
    add_feed,
    add_run,
    add_query,
    add_report,
    add_bank,
    add_tables,
)
"""In the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vipps-pipeline",
        description="Vipps MobilePay Report API to reconciled Parquet, through Dagster.",
        formatter_class=_Help,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser
