"""The README's first command, end to end, in a scratch folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from vipps_pipeline.storage import REPORT_SCHEMA
from vipps_pipeline_tests.conftest import LEDGER_IDS


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
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line[:3] == "  1"}
    assert sorted(rows) == LEDGER_IDS
    assert rows["100004"][-1] == "3", "the monthly ledger's November is not ready yet"
    assert rows["100001"][1] == "3", "three days checked"
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
