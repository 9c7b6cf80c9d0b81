"""The README's first command, end to end, in a scratch folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from vipps_pipeline.storage import REPORT_SCHEMA


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    """Run ``vipps-pipeline`` in a clean environment: no VIPPS_* leaks in from the caller."""
    return subprocess.run(
        [sys.executable, "-m", "vipps_pipeline.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **(env or {})},
    )


@pytest.mark.slow
def test_demo_runs_the_main_job_and_prints_a_summary(tmp_path: Path):
    result = cli(
        "demo",
        "--days",
        "3",
        "--data-dir",
        str(tmp_path / "data"),
        "--dagster-home",
        str(tmp_path / "home"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Parquet files under" in out and "Reconciliation," in out
    for ledger_id in ("100001", "100002", "100003", "100004"):
        assert ledger_id in out
    assert "not ready for ledger 100004" in out
    funds = ds.dataset(
        tmp_path / "data" / "reports" / "funds", format="parquet", schema=REPORT_SCHEMA
    )
    assert funds.count_rows() > 100
    assert (tmp_path / "home" / "history" / "runs.db").exists() or any(
        (tmp_path / "home").rglob("*.db")
    )
    assert " failed" not in out.split("Reconciliation,")[0]


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path):
    result = cli(
        "run",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-02",
        "--dagster-home",
        str(tmp_path),
        cwd=tmp_path,
        env={"VIPPS_TIMEZONE": "Mars/Olympus"},
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: VIPPS_TIMEZONE must be an IANA timezone such as Europe/Oslo, got 'Mars/Olympus'"
    )
