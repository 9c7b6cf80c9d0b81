"""Helpers for the browser test: Chromium, the `vipps-pipeline dev` stack, and the Dagster UI.

Everything here talks to 127.0.0.1 only. The stack is the project's own ``dev`` command (the
simulator plus ``dagster dev``: webserver and daemon) in its own process group, so that the
whole tree is ended at the end, whatever happened.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.instance.ref import InstanceRef

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
ASSETS = {
    "funds_report": "reports/funds",
    "fees_report": "reports/fees",
    "daily_statements": "statements",
    "reconciliation": "reconciliation",
}
IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}
REPORTED_TAGS = (
    "dagster/backfill",
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
    "dagster/partition/date",
    "dagster/partition/ledger",
    "dagster/partition",
    "dagster/partition_set",
    "dagster/sensor_name",
    "vipps/trigger",
    "vipps/fetch",
)


# --- Chromium ------------------------------------------------------------------------------------
def ensure_chromium() -> str:
    """Debian's Chromium, installed with apt when missing and we are root (CI on a clean
    machine); skips the test when it is missing and cannot be installed."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} is missing and only root can `apt-get install -y chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    assert Path(CHROMIUM).exists(), f"apt-get installed chromium but {CHROMIUM} is missing"
    return CHROMIUM


# --- the stack -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, predicate: Callable[[], object], timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@dataclass
class DevStack:
    """``vipps-pipeline dev`` in a scratch folder, and the Dagster instance it writes to."""

    root: Path
    port: int
    proc: subprocess.Popen
    log_path: Path
    instance: dg.DagsterInstance = None  # type: ignore[assignment]  # set once it answers
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    def log_tail(self, chars: int = 4000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return re.sub(r"\x1b\[[0-9;]*m", "", text)[-chars:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def answers(self) -> bool:
        if not self.alive():
            raise AssertionError(
                f"`vipps-pipeline dev` exited with {self.proc.returncode}:\n{self.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    # runs and backfills, read from the instance the daemon and webserver write to
    def run(self, id_prefix: str) -> dg.DagsterRun | None:
        matches = [r for r in self.instance.get_runs(limit=200) if r.run_id.startswith(id_prefix)]
        return matches[0] if len(matches) == 1 else None

    def wait_run(self, id_prefix: str, timeout: float = 180) -> dg.DagsterRun:
        def finished():
            run = self.run(id_prefix)
            return run if run and run.status not in IN_FLIGHT else None

        return wait_until(f"run {id_prefix} to finish", finished, timeout)

    def wait_backfill(self, backfill_id: str, timeout: float = 300) -> PartitionBackfill:
        running = {
            BulkActionStatus.REQUESTED,
            BulkActionStatus.CANCELING,
            BulkActionStatus.FAILING,
        }

        def finished():
            backfill = self.instance.get_backfill(backfill_id)
            if backfill is None or backfill.status in running:
                return None
            runs = self.instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            return backfill if all(r.status not in IN_FLIGHT for r in runs) else None

        return wait_until(f"backfill {backfill_id} to finish", finished, timeout, every=2)

    def in_flight(self) -> list[dg.DagsterRun]:
        return [r for r in self.instance.get_runs(limit=500) if r.status in IN_FLIGHT]

    def wait_idle(self, timeout: float = 300) -> None:
        """No run queued or running (the sync sensor may launch runs of its own)."""
        wait_until("every run to finish", lambda: not self.in_flight(), timeout, every=2)


@contextmanager
def dev_stack(root: Path, days: int) -> Iterator[DevStack]:
    """Start ``vipps-pipeline dev`` in ``root`` (the cwd; Parquet in root/data, the Dagster home
    in root/dagster_home); end its whole process group afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIPPS_", "DAGSTER_"))}
    env |= {"VIPPS_DATA_DIR": str(root / "data"), "HOME": str(root), "PYTHONUNBUFFERED": "1"}
    log_path = root / "dev.log"
    cmd = [sys.executable, "-m", "vipps_pipeline.cli", "dev", "--port", str(port)]
    cmd += ["--days", str(days), "--dagster-home", str(root / "dagster_home")]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    stack = DevStack(root, port, proc, log_path)
    try:
        wait_until(f"{stack.url}/server_info", stack.answers, timeout=240)
        # opened once `dagster dev` has created its storage, so that nothing races it
        stack.instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(stack.home)))
        yield stack
    finally:
        print(f"vipps-pipeline dev stopped in {stop_group(proc):.0f}s")
        if stack.instance is not None:
            stack.instance.dispose()


def stop_group(proc: subprocess.Popen) -> float:
    """End the stack's process group (our own session): SIGINT as Ctrl-C would (``dagster dev``
    shuts its webserver, daemon and code servers down), then SIGTERM, then SIGKILL for whatever
    is left. Returns the seconds it took."""
    started = time.monotonic()
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return 0.0
    for sig, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(pgid, 0)  # anyone left in the group?
            except ProcessLookupError:
                return time.monotonic() - started
            time.sleep(0.5)
    proc.poll()
    return time.monotonic() - started


# --- what is on disk and what Dagster says -------------------------------------------------------
def stored(data_dir: Path, kind: str) -> set[str]:
    """Partition keys of the Parquet files on disk: ``<file stem>|<ledger folder>``."""
    return {
        f"{p.stem}|{p.parent.parent.name}"
        for p in (Path(data_dir) / kind).rglob("*.parquet")
        if not p.name.startswith(".")
    }


def pending_day(
    data_dir: Path, checks: tuple[str, ...], prefer: str
) -> tuple[str, str, list[dict]] | None:
    """The latest stored reconciliation day with a ``pending`` finding of one of ``checks``, of
    ledger ``prefer`` when it has one, else of any ledger: (date, ledger, every finding row)."""
    files = [p for p in (Path(data_dir) / "reconciliation").rglob("*.parquet") if p.name[0] != "."]

    def order(p: Path):  # the preferred ledger first, then the latest date
        return (p.parent.parent.name != prefer, -date.fromisoformat(p.stem).toordinal(), str(p))

    for path in sorted(files, key=order):
        rows = pq.read_table(path).to_pylist()
        if any(r["status"] == "pending" and r["check"] in checks for r in rows):
            return path.stem, path.parent.parent.name, rows
    return None


def check_description(findings: list[dict], checks: tuple[str, ...]) -> str:
    """What a check's evaluation says in one line, from the findings on disk: "all 4 checks
    pass", or the statuses that are not a pass ("1 pending, 1 unknown of 4 checks")."""
    rows = [f for f in findings if f["check"] in checks]
    counts: dict[str, int] = {}
    for f in rows:
        if f["status"] != "pass":
            counts[f["status"]] = counts.get(f["status"], 0) + 1
    if not counts:
        return f"all {len(rows)} checks pass"
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + f" of {len(rows)} checks"


def materialized(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(asset)))


def checks_not_current(
    instance: dg.DagsterInstance, asset: str, check: str, partitions: set[str]
) -> list[str]:
    """The ``partitions`` (days with a file) whose latest execution of ``check`` is not a pass
    or fail of their latest materialization: the Checks tab counts these neither Passed nor
    Failed. One line each, with the run of that latest execution."""
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    infos = {
        i.partition_key: i
        for i in instance.event_log_storage.get_asset_check_partition_info([key])
        if i.partition_key in partitions
    }
    lines = [f"{p}: never evaluated" for p in sorted(partitions - set(infos))]
    for p, info in sorted(infos.items()):
        status = info.latest_execution_status.value
        if info.is_current and status in ("SUCCEEDED", "FAILED"):
            continue
        run = instance.get_run_by_id(info.latest_planned_run_id)
        lines.append(
            f"{p}: latest execution {status} in run {info.latest_planned_run_id[:8]} "
            f"({run.job_name if run else '?'} "
            f"{run.tags.get('dagster/asset_partition_range_start', '') if run else ''})"
            + ("" if info.is_current else ", judging an older materialization than the latest")
        )
    return lines


def partition_keys(first: date, last: date, ledger_ids: list[str]) -> set[str]:
    n = (last - first).days + 1
    return {
        f"{date.fromordinal(first.toordinal() + k).isoformat()}|{lid}"
        for k in range(n)
        for lid in ledger_ids
    }


def describe_runs(runs: list[dg.DagsterRun]) -> list[str]:
    lines = []
    for run in sorted(runs, key=lambda r: r.tags.get("dagster/asset_partition_range_start", "")):
        tags = {k: run.tags[k] for k in REPORTED_TAGS if k in run.tags}
        lines.append(f"  {run.run_id} {run.job_name} {run.status.value} {tags}")
    return lines


def run_failure_messages(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The verbatim error messages of a failed run's step and run failure events."""
    out = []
    for record in instance.all_logs(run.run_id):
        event = record.dagster_event
        if event is None or event.event_type_value not in ("STEP_FAILURE", "RUN_FAILURE"):
            continue
        error = getattr(event.event_specific_data, "error", None)
        out.append(f"{event.event_type_value} {event.step_key}: {error.message if error else ''}")
    return out


# --- the UI --------------------------------------------------------------------------------------
class Shots:
    """Numbered screenshots under vipps_pipeline_tests/artifacts/ (overwritten each run)."""

    def __init__(self, folder: Path = ARTIFACTS, prefix: str = "browser") -> None:
        self.folder = folder
        self.prefix = prefix
        self.n = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{prefix}-*.png"):
            old.unlink()

    def __call__(self, page, step: str) -> Path:
        self.n += 1
        name = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        path = self.folder / f"{self.prefix}-{self.n:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path


def button(page_or_locator, label: str):
    """A button by its visible label: the UI's buttons carry their icon's name in their
    accessible name (``materialization Materialize``), so match the label at the end."""
    return page_or_locator.get_by_role("button", name=re.compile(rf"(^|\s){re.escape(label)}$"))


def visible(locator):
    """Only the matches on screen: the UI renders some labels twice (a hidden copy measures
    whether the text must be truncated)."""
    return locator.filter(visible=True)


def pick_partition(page, day: str, ledger_id: str):
    """In a Partitions view (an asset's or a check's) of a date x ledger asset: filter the date
    list, click the date, then the ledger. Returns the partition's heading (``date|ledger``)."""
    page.get_by_placeholder(re.compile(r"^Filter by date")).last.fill(day)
    visible(page.get_by_text(day, exact=True)).last.click()
    visible(page.get_by_text(ledger_id, exact=True)).last.click()
    heading = visible(page.get_by_text(f"{day}|{ledger_id}", exact=True)).first
    heading.wait_for()
    return heading


def panel_of(heading):
    """The detail panel a heading belongs to: its nearest ancestor that also holds the
    panel's "Metadata" section."""
    return heading.locator("xpath=ancestor::*[.//*[normalize-space(text())='Metadata']][1]")


def metadata_value(page, scope, key: str):
    """Metadata entry ``key`` as the UI renders it: the table row holding its markdown, or,
    when the UI folds long markdown behind "[Show Markdown]", the dialog that link opens."""
    cell = visible(scope.get_by_role("cell", name=key, exact=True)).first
    cell.wait_for()
    row = cell.locator("xpath=ancestor::*[self::tr or @role='row'][1]")
    fold = row.get_by_text("Show Markdown", exact=False)
    if fold.count():
        fold.click()
        dialog = page.get_by_role("dialog").filter(has_text=key)
        dialog.wait_for()
        return dialog
    return row


def close_dialog(page) -> None:
    page.get_by_role("dialog").get_by_role("button", name="Close").click()
    page.get_by_role("dialog").wait_for(state="detached")


def loaded_images(scope) -> list[dict]:
    """Every ``<img>`` in ``scope``: its alt text, whether its src is a data: URL and its
    natural width (0 until the picture has loaded and decoded)."""
    return scope.locator("img").evaluate_all(
        """imgs => imgs.map(i => ({
            alt: i.alt,
            data_url: i.src.startsWith("data:image/"),
            width: i.complete ? i.naturalWidth : 0,
        }))"""
    )


def dismiss_community_popup(page) -> None:
    """The first visit shows a "Join the Dagster community" dialog over everything: Skip it
    whenever it appears."""
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda: page.get_by_role("button", name="Skip", exact=True).click(),
    )


def toast_text(page, pattern: str, timeout: float = 60_000) -> re.Match:
    """The id in a notification such as "Launched run 1c9c6211" or "Created backfill x"."""
    toast = page.get_by_text(re.compile(pattern)).first
    toast.wait_for(state="visible", timeout=timeout)
    match = re.search(pattern, toast.inner_text())
    assert match, toast.inner_text()
    return match


def fill_launch_dialog(page, first: date, last: date, n_ledgers: int) -> None:
    """The "Launch runs to materialize N assets" dialog: a date range, All ledgers."""
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    dialog.wait_for(state="visible")
    # the four ledger-day assets (more if the multi-asset grows; `ledgers` is not among them)
    dialog.get_by_text(re.compile(r"^Launch runs to materialize \d+ assets$")).wait_for()
    dates = dialog.get_by_placeholder(re.compile(r"^ex:"))
    dates.fill(f"[{first.isoformat()}...{last.isoformat()}]")
    dates.press("Enter")
    # two "All" buttons: the date dimension's, then the ledger dimension's
    dialog.get_by_role("button", name="All", exact=True).nth(1).click()
    dialog.get_by_text(f"{n_ledgers} partitions selected").wait_for()
    n_dates = (last - first).days + 1
    dialog.get_by_text(f"{n_dates * n_ledgers} partitions", exact=True).wait_for()
    # the dialog loads the job's partition sets in the background before it can launch
    loading = dialog.get_by_text("Loading pipeline and partition sets")
    deadline = time.monotonic() + 60
    while loading.count() and time.monotonic() < deadline:
        time.sleep(0.25)
