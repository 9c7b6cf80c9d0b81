"""Engine events as Dagster events: one materialization per stored ledger-day file, check
evaluations tied to their partition's materialization, observations for open days.

Nothing is ever reported for a partition whose file was not written: this is what keeps the
partition status in the UI equal to the files on disk, whatever started the run.

Materializations are written to the event log in batches, one batch per asset: on PostgreSQL
Dagster stores a batch in one statement (``DAGSTER_EVENT_BATCH_SIZE``, set in
``vipps_pipeline.defs``), which is most of what a ledger-day costs in bookkeeping. A batch is
sent as soon as the files it stands for are written and before anything else happens, so a
killed run loses at most the records of the files it was writing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import (
    DagsterEvent,
    DagsterEventBatchMetadata,
    DagsterEventType,
    generate_event_batch_id,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from vipps_pipeline.books.journal import minor_to_text
from vipps_pipeline.books.reconcile import CHECK_GROUPS, CHECKS
from vipps_pipeline.defs.partitions import UNSHARDED, Shard, partition_key
from vipps_pipeline.store.layout import (
    findings_path,
    journal_csv_path,
    journal_path,
    statement_path,
)
from vipps_pipeline.sync import engine as lr
from vipps_pipeline.sync.ingest import DaySummary

REPORT_ASSETS = {t: dg.AssetKey(f"{t}_report") for t in ("funds", "fees")}
STATEMENTS = dg.AssetKey("daily_statements")
JOURNAL = dg.AssetKey("journal")
JOURNAL_CHECK = "journal_balances"
RECONCILIATION = dg.AssetKey("reconciliation")
PREVIEW_COLUMNS = [
    "seq",
    "time",
    "entry_type",
    "psp_reference",
    "amount",
    "balance_before",
    "balance_after",
]
FINDING_COLUMNS = ["check", "topic", "status", "expected", "actual", "detail"]
API_SAID = {"404": "HTTP 404", "tryLater": "tryLater: true"}


def markdown(rows: list[dict], cols: list[str], empty: str = "_no entries_") -> str:
    """A small markdown table for the UI's metadata panel."""
    if not rows:
        return empty
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += [
        "| "
        + " | ".join(
            str(r.get(c, "") if r.get(c) is not None else "").replace("|", "/") for c in cols
        )
        + " |"
        for r in rows
    ]
    return "\n".join(lines)


def target_of(record: dg.EventLogRecord) -> AssetCheckEvaluationTargetMaterializationData:
    """What a check evaluation judges: without it the UI shows the evaluation as stale."""
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )


def money(amount: int | None, currency: str | None) -> str | None:
    """Minor units as the accountant reads them: "1234.56 NOK" (None stays None)."""
    if amount is None:
        return None
    return f"{minor_to_text(amount, currency)} {currency or ''}".strip()


def _amounts(md: dict[str, object], currency: str | None) -> dict[str, object]:
    """Each amount in minor units (an integer, for sorting and plots) beside its display."""
    out: dict[str, object] = {}
    for name, value in md.items():
        out[name] = value
        if isinstance(value, int) and not isinstance(value, bool) and name.endswith(AMOUNTS):
            out[f"{name}_display"] = money(value, currency)
    return out


AMOUNTS = ("balance", "sum_amount", "payout_amount", "reserve_kept")


def report_metadata(s: DaySummary, timezone: str) -> dict[str, object]:
    """This ledger-day's figures only; times shown in the ledger's timezone."""
    currency = next(iter(s.currencies), None)
    tz = ZoneInfo(timezone)
    preview = [
        {
            **row,
            "time": row["time"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
            if row.get("time")
            else None,
        }
        for row in s.preview
    ]
    return _amounts(
        {
            "ledger": s.ledger_id,
            "date": s.ledger_date.isoformat(),
            "topic": s.topic,
            "currency": currency or "",
            "rows": s.rows,
            "pages": s.pages,
            "counts_by_entry_type": dg.MetadataValue.json(dict(sorted(s.counts_by_type.items()))),
            "opening_balance": s.opening_balance,
            "closing_balance": s.closing_balance,
            "sum_amount": s.sum_amount,
            "path": dg.MetadataValue.path(str(s.path.resolve())),
            "preview": dg.MetadataValue.md(
                f"Times in {timezone}; amounts in minor units of {currency}.\n\n"
                + markdown(preview, PREVIEW_COLUMNS)
            ),
        },
        currency,
    )


def statement_metadata(rows: Iterable[dict], path: str) -> dict[str, object]:
    by_topic = {r["topic"]: r for r in rows}
    funds = by_topic["funds"]
    currency = funds["currency"] or by_topic["fees"]["currency"]
    md: dict[str, object] = {
        f"{topic}_{name}": by_topic[topic][name]
        for topic in ("funds", "fees")
        for name in ("entries", "opening_balance", "closing_balance", "sum_amount")
    }
    md |= {
        "payout_amount": funds["payout_amount"],
        "payout_reference": funds["payout_reference"] or "",
        "reserve_kept": funds["reserve_kept"],
        "settlement": funds["settlement"] or "unknown",
        "currency": currency or "",
        "path": dg.MetadataValue.path(path),
    }
    return _amounts(md, currency)


def _group_result(findings: list[dict], group: str) -> tuple[bool, str, list[dict]]:
    """(passed, one-line description, findings that are not a pass) for one check group.

    ``pending`` (a fee window still open) and ``unknown`` (a day that would decide it is not
    stored yet) are not failures: the check passes and says what it is waiting for.
    """
    rows = [f for f in findings if f["check"] in CHECK_GROUPS[group]]
    bad = [f for f in rows if f["status"] != "pass"]
    counts: dict[str, int] = {}
    for f in bad:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    if not bad:
        return True, f"all {len(rows)} checks pass", bad
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return "fail" not in counts, f"{summary} of {len(rows)} checks", bad


@dataclass
class Summary:
    """What a run did, for its log line, its failure message and the CLI."""

    stored: dict[str, dict[str, list[date]]] = field(default_factory=dict)  # ledger -> topic
    derived: dict[str, set[date]] = field(default_factory=dict)  # ledger -> reconciled days
    open: dict[str, list[str]] = field(default_factory=dict)  # ledger -> "funds 2026-11-01 ..."
    failures: list[str] = field(default_factory=list)
    failed_ledgers: set[str] = field(default_factory=set)  # the freshness check's "failed"
    skipped: list[str] = field(default_factory=list)

    def ledger_line(self, ledger_id: str) -> str:
        stored = self.stored.get(ledger_id, {})
        days = sorted({d for ds in stored.values() for d in ds})
        parts = [
            f"stored {len(days)} day(s)"
            + (f" ({days[0]}..{days[-1]})" if len(days) > 1 else f" ({days[0]})" if days else "")
        ]
        if self.derived.get(ledger_id):
            again = len(self.derived[ledger_id] - set(days))
            parts.append(
                f"reconciled {len(self.derived[ledger_id])} day(s)"
                + (f" ({again} of them neighbours of a new day)" if again else "")
            )
        if self.open.get(ledger_id):
            parts.append("open: " + "; ".join(self.open[ledger_id]))
        return f"ledger {ledger_id}: " + ", ".join(parts)


class Recorder:
    """Translates a run's engine events; ``checks`` are the check keys to evaluate."""

    def __init__(
        self,
        context: dg.OpExecutionContext,
        data_dir,
        checks: Iterable[dg.AssetCheckKey],
        timezone: str = "UTC",
        shard: Shard = UNSHARDED,
    ) -> None:
        self.context = context
        self.shard = shard
        self.data_dir = data_dir
        self.timezone = timezone
        checks = list(checks)
        self.checks = {k.name for k in checks if k.asset_key == shard.key(RECONCILIATION)}
        self.journal_check = dg.AssetCheckKey(shard.key(JOURNAL), JOURNAL_CHECK) in checks
        self._report_keys = {shard.key(k) for k in REPORT_ASSETS.values()}
        self.summary = Summary()
        self.outage: str | None = None
        self._pending: list[lr.FindingsStored | lr.JournalStored] = []
        self._materializations: list[dg.AssetMaterialization] = []

    def _materialized(self, **kwargs) -> None:
        """Keep a materialization until its batch is sent (see :meth:`materializations`)."""
        self._materializations.append(dg.AssetMaterialization(**kwargs))

    def materializations(self) -> Iterator[DagsterEvent]:
        """The kept materializations as Dagster events, one batch per asset.

        One batch per asset because Dagster's batched write updates an asset's latest record
        from the batch's last event only. Each event is logged (and, at its batch's end,
        stored) when it is created, so by the time this returns every one is in the event log.
        """
        kept, self._materializations = self._materializations, []
        by_asset: dict[dg.AssetKey, list[dg.AssetMaterialization]] = {}
        for m in kept:
            by_asset.setdefault(m.asset_key, []).append(m)
        step = self.context.get_step_execution_context()
        for group in by_asset.values():
            batch = generate_event_batch_id()
            for i, m in enumerate(group):
                end = DagsterEventBatchMetadata(batch, i == len(group) - 1)
                yield DagsterEvent.asset_materialization(step, m, end)

    def handle(self, event: lr.Event) -> Iterator[dg.AssetObservation]:
        s = self.summary
        if isinstance(event, lr.ReportStored):
            s.stored.setdefault(event.ledger_id, {}).setdefault(event.topic, []).append(
                event.ledger_date
            )
            self._materialized(
                asset_key=self.shard.key(REPORT_ASSETS[event.topic]),
                partition=partition_key(event.ledger_id, event.ledger_date),
                metadata=report_metadata(event.summary, self.timezone),
            )
        elif isinstance(event, lr.StatementStored):
            path = statement_path(self.data_dir, event.ledger_id, event.ledger_date).resolve()
            self._materialized(
                asset_key=self.shard.key(STATEMENTS),
                partition=partition_key(event.ledger_id, event.ledger_date),
                metadata=statement_metadata(event.rows, str(path)),
            )
        elif isinstance(event, lr.JournalStored):
            path = journal_path(self.data_dir, event.ledger_id, event.ledger_date).resolve()
            self._materialized(
                asset_key=self.shard.key(JOURNAL),
                partition=partition_key(event.ledger_id, event.ledger_date),
                metadata={
                    "lines": event.lines,
                    "debits_and_credits": event.debit,
                    "debits_and_credits_display": f"{minor_to_text(event.debit, event.currency)} "
                    f"{event.currency or ''}".strip(),
                    "balanced": not event.problems,
                    "path": dg.MetadataValue.path(str(path)),
                    "csv": dg.MetadataValue.path(
                        str(
                            journal_csv_path(
                                self.data_dir, event.ledger_id, event.ledger_date
                            ).resolve()
                        )
                    ),
                },
            )
            self._pending.append(event)
        elif isinstance(event, lr.FindingsStored):
            s.derived.setdefault(event.ledger_id, set()).add(event.ledger_date)
            findings = list(event.findings)
            counts = {k: 0 for k in ("pass", "fail", "pending", "unknown")}
            for f in findings:
                counts[f["status"]] += 1
            path = findings_path(self.data_dir, event.ledger_id, event.ledger_date).resolve()
            self._materialized(
                asset_key=self.shard.key(RECONCILIATION),
                partition=partition_key(event.ledger_id, event.ledger_date),
                metadata={
                    **counts,
                    "findings": dg.MetadataValue.md(
                        markdown(
                            [f for f in findings if f["status"] != "pass"],
                            FINDING_COLUMNS,
                            "_every check passes_",
                        )
                    ),
                    "path": dg.MetadataValue.path(str(path)),
                },
            )
            self._pending.append(event)
        elif isinstance(event, lr.NotReadyFound):
            p = event.probe
            s.open.setdefault(event.ledger_id, []).append(
                f"{p.topic} {p.ledger_date} ({API_SAID[p.reason]})"
            )
            yield dg.AssetObservation(
                asset_key=self.shard.key(REPORT_ASSETS[p.topic]),
                partition=partition_key(event.ledger_id, p.ledger_date),
                metadata={
                    "not_ready": API_SAID[p.reason],
                    "detail": p.detail,
                    "open_since": p.first_seen.isoformat(timespec="seconds"),
                    "later_dates_not_asked": event.not_asked,
                },
            )
        elif isinstance(event, lr.DayFailed):
            s.failures.append(event.message)
            s.failed_ledgers.add(event.ledger_id)
        elif isinstance(event, lr.Skipped):
            s.skipped.append(
                f"ledger {event.ledger_id}: {event.what} not computed for {len(event.dates)} "
                f"day(s) from {event.dates[0]}: {event.reason}"
            )

    def flush(self) -> Iterator[DagsterEvent | dg.AssetCheckEvaluation]:
        """The kept materializations, then check evaluations for the findings announced so
        far, each tied to the materialization it judges (otherwise the UI shows the check as
        stale). The evaluations go as one batch where the event log stores batches of them in
        one transaction (the embedded default, see ``defs.event_log``)."""
        yield from self.materializations()
        evaluations = list(self._evaluations())
        storage = self.context.instance.event_log_storage
        if not evaluations or not getattr(storage, "stores_check_batches", False):
            yield from evaluations
            return
        step, batch = self.context.get_step_execution_context(), generate_event_batch_id()
        for i, evaluation in enumerate(evaluations):
            yield DagsterEvent.from_step(
                DagsterEventType.ASSET_CHECK_EVALUATION,
                step,
                evaluation,
                message=f"Asset check '{evaluation.check_name}' on "
                f"'{evaluation.asset_key.to_user_string()}' "
                + ("passed." if evaluation.passed else "did not pass."),
                batch_metadata=DagsterEventBatchMetadata(batch, i == len(evaluations) - 1),
            )

    def _evaluations(self) -> Iterator[dg.AssetCheckEvaluation]:
        pending, self._pending = self._pending, []
        findings_events = [e for e in pending if isinstance(e, lr.FindingsStored)]
        journal_events = [e for e in pending if isinstance(e, lr.JournalStored)]
        if journal_events and self.journal_check:
            targets = self._targets(self.shard.key(JOURNAL), journal_events)
            theirs = self._planned_elsewhere(
                [dg.AssetCheckKey(self.shard.key(JOURNAL), JOURNAL_CHECK)], targets
            )
            for event in journal_events:
                key = partition_key(event.ledger_id, event.ledger_date)
                if key in theirs:
                    continue
                only_unmapped = all("suspense" in p for p in event.problems)
                yield dg.AssetCheckEvaluation(
                    asset_key=self.shard.key(JOURNAL),
                    check_name=JOURNAL_CHECK,
                    passed=not event.problems,
                    severity=dg.AssetCheckSeverity.WARN
                    if only_unmapped
                    else dg.AssetCheckSeverity.ERROR,
                    partition=key,
                    target_materialization_data=targets.get(key),
                    description="; ".join(event.problems)
                    or f"debits equal credits ({event.lines} lines) and tie to the reports",
                )
        if not findings_events or not self.checks:
            return
        targets = self._targets(self.shard.key(RECONCILIATION), findings_events)
        theirs = self._planned_elsewhere(
            [
                dg.AssetCheckKey(self.shard.key(RECONCILIATION), g)
                for g in CHECK_GROUPS
                if g in self.checks
            ],
            targets,
        )
        for event in findings_events:
            key = partition_key(event.ledger_id, event.ledger_date)
            if key in theirs:
                continue
            target = targets.get(key)
            findings = list(event.findings)
            for group in CHECK_GROUPS:
                if group not in self.checks:
                    continue
                passed, description, bad = _group_result(findings, group)
                yield dg.AssetCheckEvaluation(
                    asset_key=self.shard.key(RECONCILIATION),
                    check_name=group,
                    passed=passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    partition=key,
                    target_materialization_data=target,
                    description=description,
                    metadata={
                        "findings": dg.MetadataValue.md(
                            markdown(bad, FINDING_COLUMNS, "_every check passes_")
                        ),
                        "checks": dg.MetadataValue.md(
                            "\n".join(f"- `{c}`: {CHECKS[c]}" for c in CHECK_GROUPS[group])
                        ),
                    },
                )

    def _planned_elsewhere(self, checks: list[dg.AssetCheckKey], partitions) -> set[str]:
        """Partitions whose checks another run in flight will evaluate.

        Dagster shows a partition's check as current when its latest record (by insertion)
        judges the latest materialization. A run records its planned evaluations when it
        starts and fills them in later; an evaluation this run added in between (for a
        neighbouring day it recomputed) would be newer, judge an older materialization, and
        hide the other run's result. That run evaluates the day itself, so this one does not.
        """
        keys = sorted(partitions)
        if not keys or not checks:
            return set()
        infos = self.context.instance.event_log_storage.get_asset_check_partition_info(
            checks, partition_keys=keys
        )
        return {
            info.partition_key
            for info in infos
            if info.partition_key is not None
            and info.latest_execution_status == AssetCheckExecutionRecordStatus.PLANNED
            and info.latest_planned_run_id != self.context.run_id
        }

    def _targets(
        self, asset_key: dg.AssetKey, events: list
    ) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
        """The latest materialization of each event's partition: what its check judges."""
        keys = [partition_key(e.ledger_id, e.ledger_date) for e in events]
        records = self.context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=keys),
            limit=len(keys) * 10 + 100,
        ).records
        out: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
        for record in records:  # newest first
            out.setdefault(record.partition_key or "", target_of(record))
        return out

    def run(
        self,
        works: Iterable[lr.Work],
        client,
        settings,
    ) -> Iterator[DagsterEvent | dg.AssetObservation | dg.AssetCheckEvaluation]:
        """Do each ledger's work in turn, recording as it goes; an outage stops them all (and
        is kept in :attr:`outage` for the step's end)."""
        breaker = lr.Breaker(settings.max_consecutive_errors)
        for work in works:
            try:
                yield from self.record(
                    lr.run_ledger(work, client=client, settings=settings, breaker=breaker)
                )
            except lr.Outage as exc:
                yield from self.flush()
                self.outage = str(exc)
                return
            self.context.log.info(self.summary.ledger_line(work.ledger_id))

    def finish(self, planned: int) -> None:
        """End the step: it succeeds when the only thing missing is days not ready yet."""
        s, outage = self.summary, self.outage
        for line in s.skipped[:20]:
            self.context.log.info(line)
        failures = ([outage] if outage else []) + s.failures
        if not failures:
            return
        raise dg.Failure(
            description=f"{len(s.failures)} ledger-day(s) failed"
            + (f"; {outage}" if outage else "")
            + ": "
            + "; ".join(s.failures[:10]),
            metadata={
                "failed": dg.MetadataValue.json(s.failures[:200]),
                "stored_days": sum(len(ds) for t in s.stored.values() for ds in t.values()),
                "planned_partitions": planned,
                "open": dg.MetadataValue.json(s.open),
            },
            allow_retries=False,
        )

    def record(
        self, events: Iterable[lr.Event]
    ) -> Iterator[DagsterEvent | dg.AssetObservation | dg.AssetCheckEvaluation]:
        """Record as the engine goes: a chunk's report days are recorded before its
        statements are computed, and everything else at the chunk's end."""
        try:
            for event in events:
                if isinstance(event, lr.ChunkDone):
                    yield from self.flush()
                    continue
                if not isinstance(event, lr.ReportStored) and any(
                    m.asset_key in self._report_keys for m in self._materializations
                ):
                    yield from self.materializations()
                yield from self.handle(event)
        except Exception:
            yield from self.materializations()  # files written before a bug are recorded
            raise
        yield from self.flush()
