"""``query`` and ``report``: questions to the stored Parquet, no API and no Dagster involved."""

from __future__ import annotations

import argparse
import sys

from vipps_pipeline.cli.inputs import data_dir_arg


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    from vipps_pipeline.outputs.query import UnknownQuestion, resolve, run

    try:
        run(data_dir_arg(args), resolve(args.sql), as_csv=args.csv)
    except (duckdb.Error, UnknownQuestion) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vipps_pipeline.outputs.html_report import write_report

    index, pictures = write_report(data_dir_arg(args))
    print(f"{len(pictures)} ledger(s) drawn: {index.resolve()}")
    return 0
