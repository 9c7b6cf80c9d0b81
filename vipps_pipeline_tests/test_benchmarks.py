"""Smoke test: the benchmark command still runs end to end on tiny sizes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.bench
@pytest.mark.heavy
def test_benchmarks_run_on_a_tiny_size():
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in (
        "B1 large day",
        "B1b funds_report as materialized",
        "B2 backfill",
        "B3 reconciliation",
        "B4 partition scale",
        "B6 lake",
        "B7 first sync",
    ):
        assert name in result.stdout
    assert "same files: True" in result.stdout and "same files: False" not in result.stdout
    assert "ms per ledger-day" in result.stdout
    assert "same pages: True" in result.stdout and "same pages: False" not in result.stdout
    assert "0 failures" in result.stdout and "answered: True" in result.stdout
    assert "after compaction" in result.stdout and "one Parquet file" in result.stdout
