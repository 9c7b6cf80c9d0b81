"""The feed against the books: each closed date compared with its report, and one ledger's pass.

Once a date's by-date reports are stored (the date is closed and final), the feed's rows of
that date must be the same entries, in the same order, with the same balances. The result is
a finding (check ``feed_matches_report``, one row per topic) in ``<data>/feed_checks/``, with
the columns of the reconciliation's findings. A feed that holds a strict prefix of the report
is ``pending`` (the vendor's feed can lag behind by hours under load) and becomes ``fail``
after :data:`BEHIND_GRACE`; any other difference fails at once. With VIPPS_FEED_PRUNE the
provisional rows of a date that passed are deleted: the report holds the same rows.

The open dates ("today so far") are :mod:`vipps_pipeline.feed.today`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pyarrow as pa

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.api.errors import ApiError, AuthError, BadFeed, BadReport
from vipps_pipeline.domain import TOPICS, Status, finding
from vipps_pipeline.feed import stream as feed
from vipps_pipeline.feed.today import write_today
from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.objstore import read_table
from vipps_pipeline.store.paths import (
    CHECKS_KIND,
    FEED_KINDS,
    REPORT_KINDS,
    checks_path,
    feed_path,
    report_path,
)
from vipps_pipeline.store.schemas import FINDING_SCHEMA
from vipps_pipeline.sync import completeness

CHECK = "feed_matches_report"
BEHIND_GRACE = timedelta(hours=6)
"""How long a closed date's feed may lack entries the report has before that is a failure."""
BEHIND = "behind"
"""What :func:`compare_tables` says of a feed holding a strict prefix of the report: not yet a
status, it becomes ``pending`` or, after :data:`BEHIND_GRACE`, ``fail``."""
COMPARED = [
    "psp_reference",
    "time",
    "entry_type",
    "reference",
    "currency",
    "amount",
    "balance_before",
    "balance_after",
    "recipient_handle",
]
"""What "the same entry" means (GDPR fields and unknown extras are left out: they depend on a
setting and on the API version rather than on the entry)."""


# --- comparing one topic of one date ---------------------------------------------------------
def _describe(row: dict) -> str:
    return f"{row['entry_type']} {row['amount']} (psp {row['psp_reference']})"


def compare_tables(feed_rows: pa.Table, report: pa.Table) -> tuple[str, str]:
    """(pass, :data:`BEHIND` or fail; what differs), comparing the rows in seq order."""
    f = feed_rows.sort_by("seq").select(COMPARED).to_pylist()
    r = report.sort_by("seq").select(COMPARED).to_pylist()
    if f == r:
        return Status.PASS, f"{len(r)} entries, same order and balances"
    i = next((k for k in range(min(len(f), len(r))) if f[k] != r[k]), None)
    if i is None:
        if len(f) < len(r):
            return BEHIND, f"the feed has {len(f)} of the report's {len(r)} entries so far"
        extra = "; ".join(_describe(e) for e in f[len(r) : len(r) + 3])
        return Status.FAIL, f"the feed has {len(f) - len(r)} entries the report lacks: {extra}"
    if len(f) < len(r) and f[i:] == r[i + 1 : i + 1 + len(f) - i]:
        return Status.FAIL, f"seq {i}: {_describe(r[i])} is in the report but not in the feed"
    if len(f) > len(r) and r[i:] == f[i + 1 : i + 1 + len(r) - i]:
        return Status.FAIL, f"seq {i}: {_describe(f[i])} is in the feed but not in the report"
    if len(f) == len(r) and sorted(map(repr, f)) == sorted(map(repr, r)):
        return Status.FAIL, (
            f"same entries in another order from seq {i}: the feed has {_describe(f[i])}, "
            f"the report {_describe(r[i])}"
        )
    fields = [c for c in COMPARED if f[i][c] != r[i][c]]
    shown = ", ".join(f"{c} {f[i][c]!r} in the feed, {r[i][c]!r} in the report" for c in fields)
    return Status.FAIL, f"seq {i} (psp {r[i]['psp_reference']}) differs: {shown}"


# --- comparing closed dates ------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    ledger_id: str
    ledger_date: date
    rows: tuple[dict, ...]  # FINDING_SCHEMA rows, one per topic
    pruned: tuple[str, ...] = ()  # topics whose provisional rows were deleted

    @property
    def status(self) -> Status:
        return Status.worst(r["status"] for r in self.rows)


def _compare_date(
    settings: PipelineSettings,
    records: dict[str, feed.Record],
    schedule: feed.Schedule,
    d: date,
    now: datetime,
) -> Comparison:
    data_dir, ledger_id = settings.data_dir, next(iter(records.values())).ledger_id
    path = checks_path(data_dir, ledger_id, d)
    old = {r["topic"]: r for r in read_table(path).to_pylist()} if path.exists() else {}
    rows, behind = [], False
    for topic, record in records.items():
        feed_rows = feed.read_committed(data_dir, record, d)
        if feed_rows is None:  # pruned after an earlier comparison: that one stands
            rows.append(
                old.get(topic)
                or finding(ledger_id, d, topic, CHECK, Status.UNKNOWN, detail="feed rows pruned")
            )
            continue
        report = read_table(report_path(data_dir, topic, ledger_id, d))
        status, detail = compare_tables(feed_rows, report)
        if status == BEHIND:
            since = schedule.behind.setdefault(d, now)
            behind = True
            status = Status.FAIL if now - since >= BEHIND_GRACE else Status.PENDING
            detail += f" (behind since {since.isoformat(timespec='minutes')})"
        rows.append(
            finding(ledger_id, d, topic, CHECK, status, report.num_rows, feed_rows.num_rows, detail)
        )
    if not behind:
        schedule.behind.pop(d, None)
    write_table(path, pa.Table.from_pylist(rows, schema=FINDING_SCHEMA))
    pruned = _prune(settings, ledger_id, d, rows)
    return Comparison(ledger_id, d, tuple(rows), tuple(pruned))


def _prune(settings: PipelineSettings, ledger_id: str, d: date, rows: list[dict]) -> list[str]:
    """With VIPPS_FEED_PRUNE, delete the provisional rows of the topics that matched."""
    pruned = []
    for row in rows if settings.feed_prune else []:
        target = feed_path(settings.data_dir, row["topic"], ledger_id, d)
        if row["status"] == Status.PASS and target.exists():
            target.unlink()
            pruned.append(row["topic"])
    return pruned


def compare_closed(
    settings: PipelineSettings,
    records: dict[str, feed.Record],
    schedule: feed.Schedule,
    caught_up_since_ns: int,
    now: datetime,
) -> list[Comparison]:
    """Compare every closed date whose comparison is missing, pending or older than its inputs.

    Only reports stored before ``caught_up_since_ns`` (wall clock) count: the feed was caught
    up after them, so it has seen every entry of their dates. Call with the feed lock held.
    """
    ledger_id = next(iter(records.values())).ledger_id
    kinds = (*REPORT_KINDS, *FEED_KINDS, CHECKS_KIND)
    inv = completeness.scan(settings.data_dir, ledger_id, kinds)
    starts = [r.start_from or settings.feed_start for r in records.values()]
    first = max(settings.start_date, *starts)
    out = []
    for d in sorted(inv.dates(REPORT_KINDS[0])):
        if d < first or not inv.reports_stored(d):
            continue
        reports = [inv.mtime(k, d) or 0 for k in REPORT_KINDS]
        if max(reports) >= caught_up_since_ns:
            continue  # stored while the feed was being read: the next pass compares it
        inputs = max(reports + [inv.mtime(k, d) or 0 for k in FEED_KINDS])
        done = inv.mtime(CHECKS_KIND, d)
        if done is not None and done >= inputs and d not in schedule.behind:
            if settings.feed_prune and any(inv.has(k, d) for k in FEED_KINDS):
                # compared, but not pruned (a crash in between, or a mismatch): prune a match
                path = checks_path(settings.data_dir, ledger_id, d)
                _prune(settings, ledger_id, d, read_table(path).to_pylist())
            continue
        out.append(_compare_date(settings, records, schedule, d, now))
    return out


# --- one ledger's pass -----------------------------------------------------------------------
@dataclass
class LedgerPass:
    """What one pass over a ledger's feed did, for the Dagster wiring and the CLI."""

    ledger_id: str
    results: dict[str, feed.PassResult] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    today_changed: bool = False
    errors: list[tuple[str, str, bool]] = field(default_factory=list)
    """(topic, message, transport): transport errors count towards an outage."""

    @property
    def added(self) -> int:
        return sum(r.entries for r in self.results.values())


def run_feed_pass(
    client: ReportClient, settings: PipelineSettings, ledger_id: str, now: datetime
) -> LedgerPass:
    """Catch up both topics, compare the closed dates, refresh "today so far", and schedule
    the next pass. Raises :class:`AuthError` (the keys are refused: no other ledger will work
    either) after saving what was stored; every other error is reported in the result."""
    out = LedgerPass(ledger_id)
    data_dir = settings.data_dir
    with feed.feed_lock(data_dir, ledger_id):
        schedule = feed.Schedule.load(data_dir, ledger_id)
        started, stopped = None, True
        try:
            for topic in TOPICS:
                result = out.results[topic] = feed.PassResult(ledger_id, topic)
                started = started or result.started_ns
                try:
                    feed.catch_up(client, settings, ledger_id, topic, result=result)
                except AuthError:
                    raise
                except (BadFeed, BadReport) as exc:
                    out.errors.append((topic, str(exc), False))
                except ApiError as exc:
                    out.errors.append((topic, str(exc), exc.transport))
            stopped = False
        finally:
            caught_up = all(r.caught_up for r in out.results.values()) and not out.errors
            schedule.interval = (
                settings.feed_poll_seconds  # an error: try again, but not at once
                if out.errors or stopped
                else feed.next_interval(settings, schedule.interval, out.added, caught_up)
            )
            schedule.last_pass_at = now
            if caught_up:
                schedule.caught_up_at = now
            schedule.next_poll_at = now + timedelta(seconds=schedule.interval)
            schedule.save(data_dir, ledger_id)
        records = {t: feed.Record.load(data_dir, ledger_id, t) for t in TOPICS}
        if caught_up and started is not None:
            out.comparisons = compare_closed(settings, records, schedule, started, now)
            schedule.save(data_dir, ledger_id)
        out.today_changed = write_today(settings, records, schedule.caught_up_at)
    return out
