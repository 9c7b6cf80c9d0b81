"""Issue 19, rows 10 and 11: every bad CLI input is one line and exit 2, never a traceback or
a false success; a failed sync never shows a ledger ``ok``; ``query`` reads only the layout."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vipps_pipeline_tests.support.cli import cli
from vipps_pipeline_tests.support.clock import CLOSED_DAY, NOW

TODAY = NOW.date()  # in Europe/Oslo too: NOW is noon UTC


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "VIPPS_DATA_DIR": str(tmp_path / "data"),
        "VIPPS_START_DATE": "2026-11-01",
        "VIPPS_NOW": NOW.isoformat(),
        "DAGSTER_HOME": str(tmp_path / "home"),
        **extra,
    }


def refused(result, *words: str) -> None:
    """Exit 2, one line on stderr naming what is wrong, no traceback, nothing on stdout."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and result.stdout == ""
    for word in words:
        assert word in lines[0], lines[0]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def main(tmp_path: Path, monkeypatch, capsys):
    """``vipps-pipeline`` in this process, in a clean environment: a subprocess costs seconds
    of imports per case, and an exception escaping ``main`` fails the test as a traceback
    would (the subprocess tests below show the entry point itself)."""
    from vipps_pipeline.cli import main as entry

    def call(*argv: str, env: dict[str, str]) -> Result:
        for name in [n for n in os.environ if n.startswith("VIPPS_") or n == "DAGSTER_HOME"]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        capsys.readouterr()
        code = entry.main(list(argv))
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return call


RUN_CASES = {
    "reversed range": (["--start", "2026-11-10", "--end", "2026-11-05"], {}, ["reversed"]),
    "future range": (["--start", "2026-11-20", "--end", "2026-12-31"], {}, ["--end", "not over"]),
    "today is not over": (
        ["--start", "2026-11-20", "--end", TODAY.isoformat()],
        {},
        ["2026-11-23"],
    ),
    "bad --start": (["--start", "2026-13-01", "--end", "2026-11-05"], {}, ["--start", "13"]),
    "bad --end": (["--start", "2026-11-01", "--end", "soon"], {}, ["--end", "'soon'"]),
    "before VIPPS_START_DATE": (
        ["--start", "2026-10-01", "--end", "2026-11-05"],
        {},
        ["--start", "VIPPS_START_DATE"],
    ),
    "a ledger id with a slash": (
        ["--start", "2026-11-01", "--end", "2026-11-05", "--ledger", "1/2"],
        {},
        ["--ledger", "'1/2'"],
    ),
    "data directory is a file": (
        ["--start", "2026-11-01", "--end", "2026-11-05"],
        {"VIPPS_DATA_DIR": "afile"},
        ["VIPPS_DATA_DIR", "is a file"],
    ),
    "data directory under a file": (
        ["--start", "2026-11-01", "--end", "2026-11-05"],
        {"VIPPS_DATA_DIR": "afile/data"},
        ["VIPPS_DATA_DIR", "cannot be created"],
    ),
    "DAGSTER_HOME is a file": (
        ["--start", "2026-11-01", "--end", "2026-11-05"],
        {"DAGSTER_HOME": "afile"},
        ["DAGSTER_HOME", "is a file"],
    ),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_run_refuses_bad_input_in_one_line(main, tmp_path: Path, case: str):
    # row 11: a reversed or future range said "succeeded" (exit 0, nothing stored); the
    # others were tracebacks
    argv, extra, words = RUN_CASES[case]
    (tmp_path / "afile").write_text("not a folder\n")
    result = main("run", *argv, env=env(tmp_path, **extra))
    refused(result, *words)
    assert not (tmp_path / "home").exists(), "refused before any Dagster run"


SYNC_CASES = {
    "a ledger id with a slash": (["--ledger", "1/2"], {}, ["--ledger", "'1/2'"]),
    "data directory is a file": ([], {"VIPPS_DATA_DIR": "afile"}, ["VIPPS_DATA_DIR"]),
    "DAGSTER_HOME is a file": ([], {"DAGSTER_HOME": "afile"}, ["DAGSTER_HOME", "afile"]),
    "future start date": (
        [],
        {"VIPPS_START_DATE": "2027-01-01"},
        ["VIPPS_START_DATE", "nothing to sync"],
    ),
}


@pytest.mark.parametrize("case", list(SYNC_CASES))
def test_sync_and_feed_refuse_bad_input_in_one_line(main, tmp_path: Path, case: str):
    # row 11: a future start date showed every ledger "ok"; the others were tracebacks
    argv, extra, words = SYNC_CASES[case]
    (tmp_path / "afile").write_text("not a folder\n")
    refused(main("sync", *argv, env=env(tmp_path, **extra)), *words)
    if case != "future start date":  # the feed has dates of its own (today's entries)
        refused(main("feed", *argv, env=env(tmp_path, **extra)), *words)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--start", "2026-11-10", "--end", "2026-11-05"],
        ["sync", "--ledger", "1/2"],
        ["run", "--start", "2026-11-01", "--end", "2026-11-05", "--dagster-home", "afile"],
    ],
    ids=["run-reversed", "sync-bad-ledger", "run-dagster-home-file"],
)
def test_the_entry_point_refuses_in_one_line(tmp_path: Path, argv: list[str]):
    """The same refusals through the installed entry point, in a process of its own."""
    (tmp_path / "afile").write_text("not a folder\n")
    refused(cli(*argv, cwd=tmp_path, env=env(tmp_path)))


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """A folder nobody may write into: by its mode, or, for root (CI runs as root, and root
    ignores modes), by the immutable attribute."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode:
        pytest.skip("root, and this file system has no immutable attribute")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_read_only_data_directory_is_refused_in_one_line(main, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    with read_only(data):
        result = main("sync", env=env(tmp_path))
    refused(result, "VIPPS_DATA_DIR", "not writable")


def test_query_reads_only_the_layouts_files(main, tmp_path: Path):
    # row 11: a stray non-date .parquet under the data directory broke every question
    data = tmp_path / "data"
    day = data / "reports/funds/100001/2026" / f"{CLOSED_DAY}.parquet"
    day.parent.mkdir(parents=True)
    from vipps_pipeline.store.schemas import REPORT_SCHEMA

    row = {
        "ledger_id": "100001",
        "topic": "funds",
        "ledger_date": CLOSED_DAY,
        "seq": 0,
        "entry_type": "capture",
        "currency": "NOK",
        "amount": 12300,
        "balance_before": 0,
        "balance_after": 12300,
    }
    pq.write_table(pa.Table.from_pylist([row], schema=REPORT_SCHEMA), day)
    stray = pa.table({"something": ["else"]})
    pq.write_table(stray, day.parent / "notes.parquet")  # a person's file beside the days
    pq.write_table(stray, data / "reports/funds/100001/export.parquet")
    pq.write_table(stray, data / "statements.parquet")
    (day.parent / f"{CLOSED_DAY}.parquet.corrupt-20261124T120000000000Z").write_bytes(b"x")
    settings = {"VIPPS_DATA_DIR": str(data), "VIPPS_START_DATE": "2026-11-01"}
    # the file written by hand reaches the tables the query reads (a run commits its own)
    built = main("tables", "build", env=settings)
    assert built.returncode == 0, built.stderr[-2000:]
    assert built.stdout.startswith("1 ledger(s) brought in line"), built.stdout
    result = main(
        "query", "select count(*) as n, sum(amount) as s from entries", "--csv", env=settings
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["n,s", "1,12300"]
    result = main("query", "select * from statements", env=settings)
    assert result.returncode == 0 and "(0 rows)" in result.stdout, result.stderr[-2000:]


@pytest.mark.slow
def test_sync_after_a_transient_404_exits_0_and_a_failed_sync_shows_no_ledger_ok(
    sim, tmp_path: Path
):
    # row 10: the first-poll fault marked 6 of 7 ledgers not_yours and exit 1;
    # row 11: a failed sync showed every ledger "ok"
    sim.faults.not_ready_polls = 1
    start = (TODAY - timedelta(days=20)).isoformat()  # an old date: its age alone would alarm
    base = {**sim.env("merchant"), **env(tmp_path, VIPPS_START_DATE=start)}
    damaged = tmp_path / "data" / "state" / "100001.json"  # row 5: a 49-line traceback
    damaged.parent.mkdir(parents=True)
    damaged.write_text('{"probes": {"funds": ')
    result = cli("sync", "--ledger", "100001", cwd=tmp_path, env=base)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "not_yours" not in result.stdout and "100001" in result.stdout
    [aside] = damaged.parent.glob("100001.json.corrupt-*")
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if aside.name in line], result.stderr

    sim.faults.not_ready_polls = 0
    chart = tmp_path / "accounts.toml"
    chart.write_text("this is [not toml\n")  # every journal day fails; reports are fine
    result = cli(
        "sync",
        "--ledger",
        "100001",
        cwd=tmp_path,
        env={**base, "VIPPS_JOURNAL_ACCOUNTS": str(chart)},
    )
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    [row] = [line for line in result.stdout.splitlines() if line.startswith("  100001")]
    assert f"final through {TODAY - timedelta(days=1)}" in row or "2026-11-23" in row
    assert " ok:" not in row and "failed: this sync failed" in row
