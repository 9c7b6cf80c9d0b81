"""vipps-pipeline: the demo, the UI, the simulator, the sync, the feed, and questions to the data.

The entry point of ``vipps-pipeline`` and ``python -m vipps_pipeline.cli``. The parser lives in
:mod:`~vipps_pipeline.cli.parser`, each group of commands in its own module (demo, dev, fetch,
data); here a bad setting or flag becomes one ``error:`` line and exit status 2, and a reader
that stops early (``| head``) ends the command quietly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vipps_pipeline.cli.devfile import use_dev_file
from vipps_pipeline.cli.parser import build_parser

SIGPIPE_EXIT = 141
"""128 + SIGPIPE: what a shell reports for a writer whose reader went away (``yes | head``)."""


def _is_settings_error(exc: Exception) -> bool:
    """Whether ``exc`` is a SettingsError, without importing the settings (pydantic takes a
    third of a second): a command that never loaded them cannot have raised one."""
    settings = sys.modules.get("vipps_pipeline.settings")
    return settings is not None and isinstance(exc, settings.SettingsError)


BESIDE_DEV = frozenset({"sync", "feed", "run", "query", "report", "bank"})
"""Commands that use a running ``dev``'s simulator, instance and data when nothing else is set."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in BESIDE_DEV and use_dev_file(Path.cwd(), os.environ):
        args = build_parser().parse_args(argv)  # --dagster-home defaults to dev's DAGSTER_HOME
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, while we can still catch it
        return code
    except BrokenPipeError:
        # the reader is gone: send what is still buffered nowhere, so the interpreter's own
        # flush at exit does not print a traceback either
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return SIGPIPE_EXIT
    except Exception as exc:
        if not _is_settings_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
