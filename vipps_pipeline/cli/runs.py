"""Dagster runs from a terminal: the main job over a range, the sync, the feed, and their summaries.

The CLI's ``demo``, ``run``, ``sync`` and ``feed`` call these (and the benchmarks); they run
in-process on the instance in DAGSTER_HOME, so the UI shows every run they made.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from vipps_pipeline.cli.alerting import alert_after_run

if TYPE_CHECKING:
    import dagster as dg

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Step failures are summarised in one line each by :func:`run_main_job` instead."""


def dagster_home(path: str) -> Path:
    """The embedded default's Dagster home: SQLite under ``path``, with the batching event log
    (a ``dagster.yaml`` someone wrote there is left as it is)."""
    from vipps_pipeline.instance.event_log import dagster_yaml
    from vipps_pipeline.settings import SettingsError

    home = Path(path).resolve()
    if home.exists() and not home.is_dir():
        raise SettingsError(f"DAGSTER_HOME (--dagster-home) {home} is a file, not a folder")

    try:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        if not config.exists() or not config.read_text().strip():
            config.write_text(dagster_yaml(str(home)))
    except OSError as exc:
        raise SettingsError(
            f"DAGSTER_HOME (--dagster-home) {home} cannot be used: {exc.strerror or exc}"
        ) from None
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _first_line(message: str) -> str:
    line = message.strip().splitlines()[0]
    return line.split("Failure: ", 1)[-1][:400]


def load_dagster():
    """The project's definitions and the instance at DAGSTER_HOME, with Dagster's deprecation
    notices about its own internals silenced (they are not the user's to act on)."""
    import dagster as dg

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from vipps_pipeline.definitions import defs

    return defs, dg.DagsterInstance.get()


def progress(total: int, what: str):
    """A progress bar on the terminal for long headless work (nothing when not a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="ledger", disable=not sys.stderr.isatty())


def _failure_lines(result) -> list[str]:
    return [
        f"{event.step_key}: {_first_line(event.event_specific_data.error.message)}"
        for event in result.get_step_failure_events()
    ]


def refresh_ledgers(defs, instance) -> list[str]:
    """List the ledgers (registering new ones); returns the error lines (empty on success)."""
    refresh = defs.resolve_job_def("refresh_ledgers").execute_in_process(
        instance=instance, run_config=QUIET_LOGS, raise_on_error=False
    )
    return [] if refresh.success else _failure_lines(refresh)


def run_main_job(
    start: date, end: date, ledger_ids: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """Refresh the ledger list, then one ranged run of the main job per ledger.

    Settings come from the environment (read when the definitions load). Returns ledger -> the
    first line of each failed step's error (empty when the run succeeded; days that are not
    final yet are not errors). Runs are recorded in the instance at DAGSTER_HOME.
    """
    defs, instance = load_dagster()
    errors = refresh_ledgers(defs, instance)
    if errors:
        raise SystemExit("listing ledgers failed: " + "; ".join(errors))
    ids = ledger_ids or instance.get_dynamic_partitions("ledgers")
    job = defs.resolve_job_def("daily_ledger_job")
    results = {}
    bar = progress(len(ids), "daily_ledger_job")
    for ledger_id in ids:
        bar.set_postfix_str(ledger_id)
        result = job.execute_in_process(
            instance=instance,
            run_config=QUIET_LOGS,
            raise_on_error=False,
            tags={
                "dagster/asset_partition_range_start": f"{start.isoformat()}|{ledger_id}",
                "dagster/asset_partition_range_end": f"{end.isoformat()}|{ledger_id}",
            },
        )
        results[ledger_id] = _failure_lines(result)
        bar.update()
    bar.close()
    return results


def _dagster_and_ledgers(list_ledgers: bool):
    """The definitions, the instance, the registered ledgers (listed afresh first unless told
    not to) and the listing's error lines: what ``sync`` and ``feed`` start from."""
    defs, instance = load_dagster()
    errors = refresh_ledgers(defs, instance) if list_ledgers else []
    return defs, instance, sorted(instance.get_dynamic_partitions("ledgers")), errors


Loaded = tuple["dg.Definitions", "dg.DagsterInstance"]
"""The definitions and the instance, as :func:`load_dagster` returns them."""


@dataclass(frozen=True)
class SyncRun:
    """How one vipps_sync run of a ``sync`` ended: what the summary and the alerts need."""

    run_id: str
    success: bool
    errors: list[str]
    stored: dict[str, set[str]]
    """ledger -> the ledger dates whose reports this run stored."""


def sync_run(ledger_ids: Sequence[str], share: str = "", loaded: Loaded | None = None) -> SyncRun:
    """One vipps_sync run of ``ledger_ids`` (empty: every registered ledger), in this process
    on the instance at DAGSTER_HOME. ``share``: "2/3" when it is one of several runs at once
    (its progress bar and its tags say so); ``loaded``: the definitions and instance this
    process has already (a worker loads its own). Top level, so a worker process can be
    started on it."""
    from vipps_pipeline.defs.sync.jobs import sync_ledgers
    from vipps_pipeline.sync.planner import share_label

    number, _, runs = share.partition("/")
    label = share_label(list(ledger_ids), int(number), int(runs)) if runs else {}
    defs, instance = loaded or load_dagster()
    os.environ["VIPPS_PROGRESS"] = (share or "1") if sys.stderr.isatty() else ""
    result = defs.resolve_job_def("vipps_sync").execute_in_process(
        instance=instance,
        run_config={
            **QUIET_LOGS,
            "ops": {sync_ledgers.name: {"config": {"ledgers": list(ledger_ids)}}},
        },
        raise_on_error=False,
        tags={"vipps/trigger": "cli", **label},
    )
    stored: dict[str, set[str]] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            if mat.asset_key.path[-1].endswith("_report") and mat.partition:
                day, ledger = mat.partition.split("|")
                stored.setdefault(ledger, set()).add(day)
    return SyncRun(result.run_id, result.success, _failure_lines(result), stored)


def _sync_runs(shares: list[list[str]], loaded: Loaded | None = None) -> list[SyncRun]:
    """The shares' runs at once: the first in this process (on ``loaded``, the definitions and
    instance loaded here already), the others each in a worker process started afresh (not
    forked: this process holds threads of Delta Lake and of the fetch pool)."""
    if len(shares) == 1:
        return [sync_run(shares[0], loaded=loaded)]
    n = len(shares)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n - 1, mp_context=context) as pool:
        others = [
            pool.submit(sync_run, share, f"{k + 1}/{n}") for k, share in enumerate(shares) if k
        ]
        first = sync_run(shares[0], f"1/{n}", loaded)
        return [first, *(_outcome(f, k + 2, n, shares[k + 1]) for k, f in enumerate(others))]


def _outcome(future: Future[SyncRun], number: int, n: int, share: list[str]) -> SyncRun:
    """A worker's run, or a failed one naming its ledgers when the worker itself failed (its
    process killed, say, by the out-of-memory killer): the others' results still count."""
    try:
        return future.result()
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [""])[0][:300]
        why = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
        return SyncRun(
            "",
            False,
            [f"sync run {number}/{n} (ledgers {', '.join(share)}) ended in its worker: {why}"],
            {},
        )


def run_sync(ledger_ids: Sequence[str] = (), list_ledgers: bool = True) -> tuple[int, str]:
    """One pass of the planner through Dagster, the ledgers dealt over VIPPS_SYNC_RUNS runs at
    once (one per core by default): (exit code, what to print)."""
    from vipps_pipeline.defs.sync.jobs import freshness_rows
    from vipps_pipeline.settings import PipelineSettings
    from vipps_pipeline.sync.planner import deal, failed

    defs, instance, ids, errors = _dagster_and_ledgers(list_ledgers)
    if errors and not ids:
        told = alert_after_run("vipps_sync", "", False, errors, ids)
        return 1, "\n".join(["listing ledgers failed: " + "; ".join(errors), *told])
    settings = PipelineSettings.from_env(os.environ)
    wanted = list(ledger_ids) or ids
    shares = deal(wanted, settings.runs_for(len(wanted)))
    if len(shares) < 2:  # one run: as asked (no ledger named: every registered one)
        shares = [list(ledger_ids)]
    runs = _sync_runs(shares, (defs, instance))
    for run in runs:
        errors += run.errors
    success = all(run.success for run in runs)
    rows = freshness_rows(settings, wanted, settings.today())
    if errors or not success:
        # what is stored may look complete, but this sync did not confirm it: never "ok"
        rows = [failed(r, "this sync failed (see below)") for r in rows]
    names = ", ".join(run.run_id for run in runs if run.run_id) or "(none started)"
    lines = [
        f"Sync run{'s' if len(runs) > 1 else ''} {names} "
        f"({'succeeded' if success else 'failed'}), data in {settings.data_dir.resolve()}",
        "  ledger    final through  open since   stored now  status",
    ]
    stored = {lid: days for run in runs for lid, days in run.stored.items()}
    for r in rows:
        new = sorted(stored.get(r.ledger_id, ()))
        span = f"{len(new)} day(s)" if new else "-"
        lines.append(
            f"  {r.ledger_id:<9} {r.final_through or '-'!s:<14} "
            f"{r.open_since or '-'!s:<12} {span:<11} {r.status}: {r.detail}"
        )
    lines += [f"error: {e}" for e in errors]
    ok = success and not errors
    # one outcome for the whole sync (a later outcome of a job replaces an earlier one), its
    # link to a run that failed
    shown = next((run for run in runs if not run.success or run.errors), runs[0])
    lines += alert_after_run("vipps_sync", shown.run_id, ok, errors, wanted)
    bad = errors or any(r.status == "not_yours" for r in rows)
    return (1 if bad else 0), "\n".join(lines)


def run_feed(ledger_ids: Sequence[str] = (), list_ledgers: bool = True) -> tuple[int, str]:
    """One catch-up pass of every ledger's feed through Dagster: (exit code, what to print)."""
    from vipps_pipeline.feed.today import pass_report, stored_counts
    from vipps_pipeline.settings import PipelineSettings

    defs, instance, ids, errors = _dagster_and_ledgers(list_ledgers)
    if errors and not ids:
        told = alert_after_run("vipps_feed", "", False, errors, ids)
        return 1, "\n".join(["listing ledgers failed: " + "; ".join(errors), *told])
    settings = PipelineSettings.from_env(os.environ)
    wanted = list(ledger_ids) or ids
    before = stored_counts(settings.data_dir, wanted)
    result = defs.resolve_job_def("vipps_feed").execute_in_process(
        instance=instance,
        run_config={
            **QUIET_LOGS,
            "ops": {"read_feed": {"config": {"ledgers": list(ledger_ids), "force": True}}},
        },
        raise_on_error=False,
        tags={"vipps/trigger": "cli"},
    )
    errors += _failure_lines(result)
    lines = [
        f"Feed run {result.run_id} ({'succeeded' if result.success else 'failed'}), "
        f"data in {settings.data_dir.resolve()}",
        *pass_report(settings.data_dir, wanted, before),
        *(f"error: {e}" for e in errors),
        *alert_after_run(
            "vipps_feed", result.run_id, result.success and not errors, errors, wanted
        ),
    ]
    return (1 if errors else 0), "\n".join(lines)


def summary(data_dir: Path, ledger_ids: Sequence[str], dates: list[date]) -> str:
    import pyarrow.dataset as ds

    from vipps_pipeline.books.derive import read_findings
    from vipps_pipeline.books.reconcile import summarize
    from vipps_pipeline.store.paths import report_path
    from vipps_pipeline.store.schemas import REPORT_SCHEMA

    lines = [f"Parquet files under {data_dir.resolve()}:"]
    for topic in ("funds", "fees"):
        root = data_dir / "reports" / topic
        rows = (
            ds.dataset(root, format="parquet", schema=REPORT_SCHEMA).count_rows()
            if root.exists()
            else 0
        )
        lines.append(f"  reports/{topic:<6} {rows:>7} entries")
    for kind in ("statements", "reconciliation"):
        files = len(list((data_dir / kind).rglob("*.parquet")))
        lines.append(f"  {kind:<14} {files:>7} ledger-day files")
    lines.append(f"  ledgers.parquet   {len(ledger_ids)} ledgers")
    waiting = {
        lid: sum(not report_path(data_dir, "funds", lid, d).exists() for d in dates)
        for lid in ledger_ids
    }
    findings = read_findings(data_dir)
    findings = findings[findings.ledger_date.isin(dates)]
    table = summarize(findings).set_index("ledger_id") if len(findings) else None
    lines.append("")
    lines.append(f"Reconciliation, {dates[0]} to {dates[-1]} (days per ledger):")
    lines.append("  ledger   checked  passed  failed  pending  unknown  not ready yet")
    for lid in ledger_ids:
        if table is not None and lid in table.index:
            r = table.loc[lid]
            lines.append(
                f"  {lid:<8} {r.days:>7} {r.passed:>7} {r.failed:>7} {r.pending:>8} "
                f"{r.unknown:>8} {waiting[lid]:>14}"
            )
        else:
            lines.append(f"  {lid:<8} {0:>7} {0:>7} {0:>7} {0:>8} {0:>8} {waiting[lid]:>14}")
    lines.append(
        "  pending: a capture's fee window is still open; unknown: the day before is not stored;"
    )
    lines.append(
        "  not ready: the API still says 404 or tryLater (e.g. monthly settlement); "
        "the hourly sync fetches it once it closes."
    )
    return "\n".join(lines)
