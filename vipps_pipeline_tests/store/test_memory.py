"""The process's memory settings: applied when the package is imported, before Arrow loads,
and never over a choice the environment made."""

from __future__ import annotations

import os
import subprocess
import sys

SHOW = (
    "import vipps_pipeline, pyarrow as pa; from vipps_pipeline.store.memory import release_freed;"
    " release_freed(); print(pa.default_memory_pool().backend_name)"
)


def pool(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", SHOW], env={**clean, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_arrow_allocates_from_the_c_library_unless_the_environment_chose():
    assert pool({}) == "system"
    assert pool({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}) == "mimalloc"


def test_a_process_that_loaded_arrow_first_keeps_arrows_own_choice():
    """Arrow reads its setting once: set after it loaded, it would split the process's
    buffers over two allocators, so it is left alone."""
    code = "import pyarrow, vipps_pipeline, os; print(os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"},
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "None", done.stderr
