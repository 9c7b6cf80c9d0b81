"""``query`` and ``report``: questions to the stored Parquet, no API and no Dagster involved."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from vipps_pipeline.cli.inputs import data_dir_arg


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    from vipps_pipeline.outputs.query import UnknownQuestion, resolve, run

    try:
        as_of = parse_as_of(args.as_of) if args.as_of else None
        run(data_dir_arg(args), resolve(args.sql), as_csv=args.csv, as_of=as_of)
    except (duckdb.Error, UnknownQuestion, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


def parse_as_of(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is UTC (what the tables' log records)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of must be an ISO 8601 time, got {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_report(args: argparse.Namespace) -> int:
    import os

    from vipps_pipeline.outputs.html_report import write_report
    from vipps_pipeline.settings import PipelineSettings
    from vipps_pipeline.sync.engine import chart_for

    chart = chart_for(PipelineSettings.from_env(os.environ))
    index, pictures = write_report(data_dir_arg(args), chart=chart)
    print(f"{len(pictures)} ledger(s) drawn: {index.resolve()}")
    failed, warned = sum(p.failed_days for p in pictures), sum(p.warned_days for p in pictures)
    print(f"days with a failed check: {failed}; days with a warning: {warned}")
    return 0
