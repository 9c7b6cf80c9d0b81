"""The recorder: a run's engine events in, Dagster events out, in the order that keeps the
event log equal to the files on disk (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from vipps_pipeline.defs.keys import (
    JOURNAL_CHECK,
    JOURNAL_KEY,
    RECONCILIATION_KEY,
    REPORT_ASSETS,
    STATEMENTS_KEY,
)
from vipps_pipeline.defs.partitions import UNSHARDED, Shard, partition_key
from vipps_pipeline.defs.recording.evaluations import Evaluator
from vipps_pipeline.defs.recording.metadata import (
    API_SAID,
    findings_metadata,
    journal_metadata,
    not_ready_metadata,
    report_metadata,
    statement_metadata,
)
from vipps_pipeline.instance.events import check_evaluation_batch, materialization_batch
from vipps_pipeline.store.paths import statement_path
from vipps_pipeline.sync import engine as lr

Recorded = dg.DagsterEvent | dg.AssetObservation | dg.AssetCheckEvaluation
"""What a step that records engine events yields."""


@dataclass
class Summary:
    """What a run did, for its log line, its failure message and the CLI."""

    stored: dict[str, dict[str, list[date]]] = field(default_factory=dict)  # ledger -> topic
    derived: dict[str, set[date]] = field(default_factory=dict)  # ledger -> reconciled days
    open: dict[str, list[str]] = field(default_factory=dict)  # ledger -> "funds 2026-11-01 ..."
    failures: list[str] = field(default_factory=list)
    failed_ledgers: set[str] = field(default_factory=set)  # the freshness check's "failed"
    skipped: list[str] = field(default_factory=list)
    first_open: dict[str, date] = field(default_factory=dict)  # ledger -> first not-ready date

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
        data_dir: Path,
        checks: Iterable[dg.AssetCheckKey],
        timezone: str = "UTC",
        shard: Shard = UNSHARDED,
        poll_minute: int | None = None,
    ) -> None:
        self.context = context
        self.poll_minute = poll_minute  # the sync's hourly poll: a not-ready day's next ask
        self.shard = shard
        self.data_dir = data_dir
        self.timezone = timezone
        checks = list(checks)
        self.evaluator = Evaluator(
            context,
            shard,
            groups={k.name for k in checks if k.asset_key == shard.key(RECONCILIATION_KEY)},
            journal=dg.AssetCheckKey(shard.key(JOURNAL_KEY), JOURNAL_CHECK) in checks,
            data_dir=data_dir,
        )
        self._report_keys = {shard.key(k) for k in REPORT_ASSETS.values()}
        self.summary = Summary()
        self.outage: str | None = None
        self._pending: list[lr.FindingsStored | lr.JournalStored] = []
        self._materializations: list[dg.AssetMaterialization] = []
        self._observed_days: set[tuple[str, date]] = set()
        self._handlers: dict[type, Callable[[Any], Iterable[dg.AssetObservation]]] = {
            lr.ReportStored: self._report_stored,
            lr.StatementStored: self._statement_stored,
            lr.JournalStored: self._journal_stored,
            lr.FindingsStored: self._findings_stored,
            lr.NotReadyFound: self._not_ready_found,
            lr.DayFailed: self._day_failed,
            lr.Skipped: self._skipped,
        }

    # --- materializations, sent in batches ----------------------------------------------------
    def _materialized(self, key: dg.AssetKey, ledger_id: str, day: date, metadata: dict) -> None:
        """Keep a materialization until its batch is sent (see :meth:`materializations`)."""
        self._materializations.append(
            dg.AssetMaterialization(
                asset_key=self.shard.key(key),
                partition=partition_key(ledger_id, day),
                metadata=metadata,
            )
        )

    def materializations(self) -> Iterator[dg.DagsterEvent]:
        """The kept materializations as Dagster events, one batch per asset.

        One batch per asset because Dagster's batched write updates an asset's latest record
        from the batch's last event only. Each event is logged (and, at its batch's end,
        stored) when it is created, so by the time this returns every one is in the event log.
        """
        kept, self._materializations = self._materializations, []
        by_asset: dict[dg.AssetKey, list[dg.AssetMaterialization]] = {}
        for m in kept:
            by_asset.setdefault(m.asset_key, []).append(m)
        for group in by_asset.values():
            yield from materialization_batch(self.context, group)

    # --- one handler per engine event ---------------------------------------------------------
    def handle(self, event: lr.Event) -> Iterator[dg.AssetObservation]:
        """Record one engine event: its handler keeps a materialization (sent in batches) and
        returns what is sent at once; a ChunkDone is :meth:`record`'s."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            yield from handler(event)

    def _report_stored(self, event: lr.ReportStored) -> Iterable[dg.AssetObservation]:
        by_topic = self.summary.stored.setdefault(event.ledger_id, {})
        by_topic.setdefault(event.topic, []).append(event.ledger_date)
        metadata = report_metadata(event.summary, self.timezone)
        self._materialized(REPORT_ASSETS[event.topic], event.ledger_id, event.ledger_date, metadata)
        return ()

    def _statement_stored(self, event: lr.StatementStored) -> Iterable[dg.AssetObservation]:
        path = statement_path(self.data_dir, event.ledger_id, event.ledger_date).resolve()
        metadata = statement_metadata(event.rows, str(path))
        self._materialized(STATEMENTS_KEY, event.ledger_id, event.ledger_date, metadata)
        return ()

    def _journal_stored(self, event: lr.JournalStored) -> Iterable[dg.AssetObservation]:
        metadata = journal_metadata(event, self.data_dir)
        self._materialized(JOURNAL_KEY, event.ledger_id, event.ledger_date, metadata)
        self._pending.append(event)
        return ()

    def _findings_stored(self, event: lr.FindingsStored) -> Iterable[dg.AssetObservation]:
        self.summary.derived.setdefault(event.ledger_id, set()).add(event.ledger_date)
        metadata = findings_metadata(event, self.data_dir)
        self._materialized(RECONCILIATION_KEY, event.ledger_id, event.ledger_date, metadata)
        self._pending.append(event)
        return ()

    def _not_ready_found(self, event: lr.NotReadyFound) -> Iterable[dg.AssetObservation]:
        p = event.probe
        first = self.summary.first_open.get(event.ledger_id, p.ledger_date)
        self.summary.first_open[event.ledger_id] = min(first, p.ledger_date)
        self.summary.open.setdefault(event.ledger_id, []).append(
            f"{p.topic} {p.ledger_date} ({API_SAID[p.reason]})"
        )
        metadata = not_ready_metadata(event, self.poll_minute, self.timezone)
        partition = partition_key(event.ledger_id, p.ledger_date)
        keys = [REPORT_ASSETS[p.topic]]
        if (event.ledger_id, p.ledger_date) not in self._observed_days:
            # what is derived from the day is missing for the same reason: say so there too
            self._observed_days.add((event.ledger_id, p.ledger_date))
            keys += [STATEMENTS_KEY, JOURNAL_KEY, RECONCILIATION_KEY]
        return [
            dg.AssetObservation(asset_key=self.shard.key(k), partition=partition, metadata=metadata)
            for k in keys
        ]

    def _day_failed(self, event: lr.DayFailed) -> Iterable[dg.AssetObservation]:
        self.summary.failures.append(event.message)
        self.summary.failed_ledgers.add(event.ledger_id)
        return ()

    def _skipped(self, event: lr.Skipped) -> Iterable[dg.AssetObservation]:
        self.summary.skipped.append(
            f"ledger {event.ledger_id}: {event.what} not computed for {len(event.dates)} "
            f"day(s) from {event.dates[0]}: {event.reason}"
        )
        return ()

    # --- the step's course -------------------------------------------------------------------
    def flush(self) -> Iterator[dg.DagsterEvent | dg.AssetCheckEvaluation]:
        """The kept materializations, then check evaluations for the findings announced so
        far, each tied to the materialization it judges (otherwise the UI shows the check as
        stale). The evaluations go as one batch where the event log stores batches of them in
        one transaction (the embedded default, see ``vipps_pipeline.instance.event_log``)."""
        yield from self.materializations()
        pending, self._pending = self._pending, []
        evaluations = list(self.evaluator.evaluations(pending))
        storage = self.context.instance.event_log_storage
        if not evaluations or not getattr(storage, "stores_check_batches", False):
            yield from evaluations
            return
        yield from check_evaluation_batch(self.context, evaluations)

    def run(self, works: Iterable[lr.Work], client, settings) -> Iterator[Recorded]:
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

    def record(self, events: Iterable[lr.Event]) -> Iterator[Recorded]:
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
