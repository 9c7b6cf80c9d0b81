"""The README's first command, end to end, in a scratch folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from vipps_pipeline.storage import REPORT_SCHEMA


@pytest.mark.slow
def test_demo_runs_the_main_job_and_prints_a_summary(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vipps_pipeline.cli",
            "demo",
            "--days",
            "3",
            "--data-dir",
            str(tmp_path / "data"),
            "--dagster-home",
            str(tmp_path / "home"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
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
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vipps_pipeline.cli",
            "run",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-02",
            "--dagster-home",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VIPPS_TIMEZONE": "Mars/Olympus"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: VIPPS_TIMEZONE must be an IANA timezone such as Europe/Oslo, got 'Mars/Olympus'"
    )
