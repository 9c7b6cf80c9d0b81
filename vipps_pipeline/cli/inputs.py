"""The command line's own inputs, refused in one line before any Dagster run starts.

Flags and the data directory end up in file paths and ranges; a bad one caught here is a single
``error:`` line and exit 2, not the same traceback in every ledger's step.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic's models take a third of a second to build: only when used
    from vipps_pipeline.settings import ApiSettings, PipelineSettings


def date_arg(raw: str, flag: str) -> date:
    """A ``--start``/``--end`` value, named in the error so the user knows which one is wrong."""
    from vipps_pipeline.settings import SettingsError

    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{flag} must be a date YYYY-MM-DD, got {raw!r}") from None


def ledger_args(ids: Sequence[str] | None) -> list[str]:
    """``--ledger`` values end up in file paths: refused here in one line, not in a step."""
    from vipps_pipeline.settings import validate_ledger_id

    return [validate_ledger_id(i, "--ledger") for i in ids or ()]


def writable_data_dir() -> PipelineSettings:
    """The settings, once the data directory is known to be a folder this process can write
    (created when missing): otherwise every ledger's step fails with the same traceback."""
    import tempfile

    from vipps_pipeline.settings import PipelineSettings, SettingsError
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


def api_settings() -> ApiSettings:
    """The API settings, checked before the first run: a missing VIPPS_CLIENT_ID used to fail
    the ledger listing and the job as two failed runs in the UI, with exit status 1."""
    from vipps_pipeline.settings import ApiSettings

    return ApiSettings.from_env(os.environ)


def data_dir_arg(args: argparse.Namespace) -> Path:
    """``--data-dir`` when given, else VIPPS_DATA_DIR: query and report only read files, so
    they can be pointed at a copy of the data without touching the environment."""
    from vipps_pipeline.store.objstore import as_dir

    if args.data_dir:
        return as_dir(args.data_dir)
    from vipps_pipeline.settings import PipelineSettings

    return PipelineSettings.from_env(os.environ).data_dir
