"""vipps-pipeline: the demo, the UI, the simulator, the sync, the feed, and questions to the data.

The entry point of ``vipps-pipeline`` and ``python -m vipps_pipeline.cli``. The parser lives in
:mod:`~vipps_pipeline.cli.parser`, each group of commands in its own module (demo, dev, fetch,
data); here a bad setting or flag becomes one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vipps_pipeline.cli.devfile import use_dev_file
from vipps_pipeline.cli.parser import build_parser
from vipps_pipeline.settings import SettingsError

BESIDE_DEV = frozenset({"sync", "feed", "run", "query", "report"})
"""Commands that use a running ``dev``'s simulator, instance and data when nothing else is set."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in BESIDE_DEV and use_dev_file(Path.cwd(), os.environ):
        args = build_parser().parse_args(argv)  # --dagster-home defaults to dev's DAGSTER_HOME
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
