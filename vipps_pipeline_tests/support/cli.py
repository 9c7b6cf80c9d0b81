"""The ``vipps-pipeline`` command run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    """Run ``vipps-pipeline`` in a clean environment: no VIPPS_* leaks in from the caller, except
    the suite's ``VIPPS_FSYNC`` switch (a CLI test never kills the process it starts)."""
    fsync = {"VIPPS_FSYNC": os.environ["VIPPS_FSYNC"]} if "VIPPS_FSYNC" in os.environ else {}
    return subprocess.run(
        [sys.executable, "-m", "vipps_pipeline.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **fsync, **(env or {})},
    )
