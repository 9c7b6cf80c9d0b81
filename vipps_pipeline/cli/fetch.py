"""``sync``, ``feed`` and ``run``: fetch from the real (or any configured) Report API through
Dagster, on the instance in DAGSTER_HOME.

Each checks its flags and the settings first (one ``error:`` line, exit 2), then hands the work
to :mod:`vipps_pipeline.cli.runs` and turns what it returns into the exit status cron reads.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta

from vipps_pipeline.cli.inputs import api_settings, date_arg, ledger_args, writable_data_dir


def cmd_sync(args: argparse.Namespace) -> int:
    from vipps_pipeline.cli.runs import run_sync
    from vipps_pipeline.settings import SettingsError

    ledgers = ledger_args(args.ledger)
    settings = writable_data_dir()
    yesterday = settings.today() - timedelta(days=1)
    if settings.start_date > yesterday:
        raise SettingsError(
            f"VIPPS_START_DATE {settings.start_date} is after yesterday ({yesterday} in "
            f"{settings.timezone}): no date can be final yet, so there is nothing to sync"
        )
    return _ledger_pass(args, run_sync, ledgers)


def cmd_feed(args: argparse.Namespace) -> int:
    from vipps_pipeline.cli.runs import run_feed

    ledgers = ledger_args(args.ledger)
    writable_data_dir()
    return _ledger_pass(args, run_feed, ledgers)


def _ledger_pass(
    args: argparse.Namespace, run: Callable[..., tuple[int, str]], ledgers: list[str]
) -> int:
    """The Dagster side of ``sync`` and ``feed``, once their own inputs are checked: the
    instance and the API settings are refused here too, before any run is created."""
    from vipps_pipeline.cli.runs import dagster_home

    dagster_home(args.dagster_home)
    api_settings()
    code, text = run(ledgers, list_ledgers=not args.no_ledger_list)
    print(text)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    from vipps_pipeline.cli.runs import dagster_home, run_main_job
    from vipps_pipeline.settings import SettingsError

    start, end = date_arg(args.start, "--start"), date_arg(args.end, "--end")
    ledgers = ledger_args(args.ledger)
    if start > end:
        raise SettingsError(f"--start {start} is after --end {end}: the range is reversed")
    settings = writable_data_dir()
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
    api_settings()
    results = run_main_job(start, end, ledgers or None)
    for ledger_id, errors in results.items():
        print(f"{ledger_id}: {'succeeded' if not errors else 'failed'}")
        for error in errors:
            print(f"  {error}")
    return 1 if any(results.values()) else 0
