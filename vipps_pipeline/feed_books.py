"""The feed against the closed day, pruning, the "today so far" view, and one ledger's pass.

Once a date's by-date reports are stored (the date is closed and final), the feed's rows of
that date must be the same entries, in the same order, with the same balances. The result is
a finding (check ``feed_matches_report``, one row per topic) in ``<data>/feed_checks/``, with
the columns of the reconciliation's findings. A feed that holds a strict prefix of the report
is ``pending`` (the vendor's feed can lag behind by hours under load) and becomes ``fail``
after :data:`BEHIND_GRACE`; any other difference fails at once. With VIPPS_FEED_PRUNE the
provisional rows of a date that passed are deleted: the report holds the same rows.

"Today so far" is every date the feed has entries for and the by-date report does not yet:
per ledger, topic and open date the entries, sums by type and the running balance, in
``<data>/today/<ledger>.parquet``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline import completeness, feed
from vipps_pipeline.client import ApiError, AuthError, BadFeed, ReportClient
from vipps_pipeline.objstore import as_dir, read_table
from vipps_pipeline.parse import BadReport, money_totals
from vipps_pipeline.settings import TOPICS, PipelineSettings, validate_ledger_id
from vipps_pipeline.storage import FINDING_SCHEMA, report_path, write_table

CHECK = "feed_matches_report"
BEHIND_GRACE = timedelta(hours=6)
"""How long a closed date's feed may lack entries the report has before that is a failure."""
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
FEED_KINDS = tuple(f"feed/{t}" for t in TOPICS)
CHECKS_KIND = "feed_checks"

_COUNTS = pa.map_(pa.string(), pa.int64())
TODAY_SCHEMA = pa.schema(
    [
        pa.field("ledger_id", pa.string(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("ledger_date", pa.date32(), nullable=False),
        pa.field("currency", pa.string()),
        pa.field("entries", pa.int64(), nullable=False),
        pa.field("sum_amount", pa.int64(), nullable=False),
        pa.field("opening_balance", pa.int64()),
        pa.field("running_balance", pa.int64()),
        pa.field("count_by_type", _COUNTS),
        pa.field("total_by_type", _COUNTS),
        pa.field("first_time", pa.timestamp("us", tz="UTC")),
        pa.field("newest_time", pa.timestamp("us", tz="UTC")),
        pa.field("as_of", pa.timestamp("us", tz="UTC")),
    ],
    metadata={"vipps_pipeline.schema": "today/1"},
)
"""One row per ledger, topic and open date: provisional until the date's report is stored.
``running_balance`` is the balance after the newest entry; ``as_of`` when the feed was last
caught up."""


def checks_path(data_dir: Path, ledger_id: str, ledger_date: date) -> Path:
    validate_ledger_id(ledger_id)
    return (
        as_dir(data_dir) / CHECKS_KIND / ledger_id / f"{ledger_date:%Y}" / f"{ledger_date}.parquet"
    )


def today_path(data_dir: Path, ledger_id: str) -> Path:
    return as_dir(data_dir) / "today" / f"{validate_ledger_id(ledger_id)}.parquet"


# --- comparing one topic of one date ---------------------------------------------------------
def _describe(row: dict) -> str:
    return f"{row['entry_type']} {row['amount']} (psp {row['psp_reference']})"


def compare_tables(feed_rows: pa.Table, report: pa.Table) -> tuple[str, str]:
    """('pass' | 'behind' | 'fail', what differs), comparing the rows in seq order."""
    f = feed_rows.sort_by("seq").select(COMPARED).to_pylist()
    r = report.sort_by("seq").select(COMPARED).to_pylist()
    if f == r:
        return "pass", f"{len(r)} entries, same order and balances"
    i = next((k for k in range(min(len(f), len(r))) if f[k] != r[k]), None)
    if i is None:
        if len(f) < len(r):
            return "behind", f"the feed has {len(f)} of the report's {len(r)} entries so far"
        extra = "; ".join(_describe(e) for e in f[len(r) : len(r) + 3])
        return "fail", f"the feed has {len(f) - len(r)} entries the report lacks: {extra}"
    if len(f) < len(r) and f[i:] == r[i + 1 : i + 1 + len(f) - i]:
        return "fail", f"seq {i}: {_describe(r[i])} is in the report but not in the feed"
    if len(f) > len(r) and r[i:] == f[i + 1 : i + 1 + len(r) - i]:
        return "fail", f"seq {i}: {_describe(f[i])} is in the feed but not in the report"
    if len(f) == len(r) and sorted(map(repr, f)) == sorted(map(repr, r)):
        return "fail", (
            f"same entries in another order from seq {i}: the feed has {_describe(f[i])}, "
            f"the report {_describe(r[i])}"
        )
    fields = [c for c in COMPARED if f[i][c] != r[i][c]]
    shown = ", ".join(f"{c} {f[i][c]!r} in the feed, {r[i][c]!r} in the report" for c in fields)
    return "fail", f"seq {i} (psp {r[i]['psp_reference']}) differs: {shown}"


# --- comparing closed dates ------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    ledger_id: str
    ledger_date: date
    rows: tuple[dict, ...]  # FINDING_SCHEMA rows, one per topic
    pruned: tuple[str, ...] = ()  # topics whose provisional rows were deleted

    @property
    def status(self) -> str:
        statuses = {r["status"] for r in self.rows}
        return next((s for s in ("fail", "pending", "unknown") if s in statuses), "pass")


def _finding(
    ledger_id: str,
    d: date,
    topic: str,
    status: str,
    feed_n: int | None,
    report_n: int | None,
    detail: str,
) -> dict:
    return {
        "ledger_id": ledger_id,
        "ledger_date": d,
        "topic": topic,
        "check": CHECK,
        "status": status,
        "expected": report_n,
        "actual": feed_n,
        "detail": detail,
    }


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
                or _finding(ledger_id, d, topic, "unknown", None, None, "feed rows pruned")
            )
            continue
        report = read_table(report_path(data_dir, topic, ledger_id, d))
        status, detail = compare_tables(feed_rows, report)
        if status == "behind":
            since = schedule.behind.setdefault(d, now)
            behind = True
            status = "fail" if now - since >= BEHIND_GRACE else "pending"
            detail += f" (behind since {since.isoformat(timespec='minutes')})"
        rows.append(
            _finding(ledger_id, d, topic, status, feed_rows.num_rows, report.num_rows, detail)
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
        target = feed.feed_path(settings.data_dir, row["topic"], ledger_id, d)
        if row["status"] == "pass" and target.exists():
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
    kinds = (*completeness.REPORT_KINDS, *FEED_KINDS, CHECKS_KIND)
    inv = completeness.scan(settings.data_dir, ledger_id, kinds)
    starts = [r.start_from or settings.feed_start for r in records.values()]
    first = max(settings.start_date, *starts)
    out = []
    for d in sorted(inv.dates(completeness.REPORT_KINDS[0])):
        if d < first or not inv.reports_stored(d):
            continue
        reports = [inv.mtime(k, d) or 0 for k in completeness.REPORT_KINDS]
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


# --- today so far ----------------------------------------------------------------------------
def _summary(table: pa.Table, record: feed.Record, d: date, as_of: datetime | None) -> dict:
    total, absolute = money_totals(table["amount"])  # exact: Arrow's sum wraps at 2**63
    if absolute > 2**63 - 1:
        raise BadReport(
            record.ledger_id,
            record.topic,
            d,
            "the feed's amounts of this date add up beyond the int64 range (overflow)",
        )
    counts: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for t, amount in zip(table["entry_type"].to_pylist(), table["amount"].to_pylist(), strict=True):
        counts[t] += 1
        totals[t] += amount
    return {
        "ledger_id": record.ledger_id,
        "topic": record.topic,
        "ledger_date": d,
        "currency": table["currency"][0].as_py(),
        "entries": table.num_rows,
        "sum_amount": total,
        "opening_balance": table["balance_before"][0].as_py(),
        "running_balance": table["balance_after"][-1].as_py(),
        "count_by_type": sorted(counts.items()),
        "total_by_type": sorted(totals.items()),
        "first_time": pc.min(table["time"]).as_py(),
        "newest_time": pc.max(table["time"]).as_py(),
        "as_of": as_of,
    }


def today_rows(
    settings: PipelineSettings,
    records: dict[str, feed.Record],
    as_of: datetime | None = None,
    previous: list[dict] | None = None,
) -> list[dict]:
    """Per topic and open date (feed entries, no report yet): entries, sums, running balance.

    A ``previous`` row with as many entries as are committed now is reused as it is (stored
    rows never change), so a pass reads only the dates that got new entries: a monthly
    ledger's whole open month is not re-read every few minutes.
    """
    ledger_id = next(iter(records.values())).ledger_id
    inv = completeness.scan(settings.data_dir, ledger_id, completeness.REPORT_KINDS)
    known = {(r["topic"], r["ledger_date"]): r for r in previous or []}
    rows = []
    for topic, record in records.items():
        for d, n in sorted(record.dates.items()):
            if n == 0 or inv.has(f"reports/{topic}", d):
                continue
            old = known.get((topic, d))
            if old is not None and old["entries"] == n:
                rows.append({**old, "as_of": as_of})
                continue
            table = feed.read_committed(settings.data_dir, record, d)
            if table is not None and table.num_rows:
                rows.append(_summary(table.sort_by("seq"), record, d, as_of))
    return sorted(rows, key=lambda r: (r["ledger_date"], r["topic"]))


def write_today(
    settings: PipelineSettings, records: dict[str, feed.Record], as_of: datetime | None
) -> bool:
    """Rewrite ``<data>/today/<ledger>.parquet``; True when more than ``as_of`` changed."""
    ledger_id = next(iter(records.values())).ledger_id
    path = today_path(settings.data_dir, ledger_id)
    try:
        before = read_table(path, schema=TODAY_SCHEMA)
    except (FileNotFoundError, pa.ArrowInvalid):
        before = None
    previous = before.to_pylist() if before is not None else None
    table = pa.Table.from_pylist(
        today_rows(settings, records, as_of, previous), schema=TODAY_SCHEMA
    )
    write_table(path, table)
    return before is None or not before.drop_columns(["as_of"]).equals(
        table.drop_columns(["as_of"])
    )


def stored_counts(data_dir: Path, ledger_ids: list[str]) -> dict[tuple[str, str], int]:
    """Entries stored so far per ledger and topic (to tell what a pass added)."""
    return {
        (lid, t): feed.Record.load(data_dir, lid, t).stored for lid in ledger_ids for t in TOPICS
    }


def pass_report(
    data_dir: Path, ledger_ids: list[str], before: dict[tuple[str, str], int]
) -> list[str]:
    """Per ledger and topic: entries added since ``before``, the newest entry's time, and the
    open dates so far (entries, running balance), as `vipps-pipeline feed` prints them."""
    lines = ["  ledger    topic  added  newest entry (UTC)   open dates: entries, running balance"]
    for lid in ledger_ids:
        path = today_path(data_dir, lid)
        today = read_table(path).to_pylist() if path.exists() else []
        for topic in TOPICS:
            record = feed.Record.load(data_dir, lid, topic)
            newest = f"{record.newest_time:%Y-%m-%d %H:%M:%S}" if record.newest_time else "-"
            rows = [r for r in today if r["topic"] == topic]
            open_ = "-"
            if rows:
                span = str(rows[0]["ledger_date"]) + (
                    f"..{rows[-1]['ledger_date']} ({len(rows)} dates)" if len(rows) > 1 else ""
                )
                entries = sum(r["entries"] for r in rows)
                open_ = f"{span}: {entries}, {rows[-1]['running_balance']} {rows[-1]['currency']}"
            added = record.stored - before.get((lid, topic), 0)
            lines.append(f"  {lid:<9} {topic:<6} {added:>5}  {newest:<20} {open_}")
    return lines


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


def run_ledger(
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
