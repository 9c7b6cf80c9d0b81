"""Check evaluations for stored journals and findings, each tied to the materialization it
judges, and left out where another run in flight will evaluate the same partition.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from vipps_pipeline.books.reconcile import CHECK_GROUPS, CHECKS
from vipps_pipeline.defs.keys import JOURNAL_CHECK, JOURNAL_KEY, RECONCILIATION_KEY
from vipps_pipeline.defs.partitions import Shard, partition_key
from vipps_pipeline.defs.recording.metadata import journal_check_metadata
from vipps_pipeline.defs.tables import findings_table
from vipps_pipeline.domain import Status
from vipps_pipeline.instance.events import CheckTarget, check_targets, latest_plans
from vipps_pipeline.store.ledgers import ledger_currency
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.sync import engine as lr

UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
"""Run statuses whose planned check evaluations may still come."""


def group_result(findings: list[dict], group: str) -> tuple[bool, str, list[dict]]:
    """(passed, one-line description, findings that are not a pass) for one check group.

    ``pending`` (a fee window still open) and ``unknown`` (a day that would decide it is not
    stored yet) are not failures: the check passes and says what it is waiting for.
    """
    rows = [f for f in findings if f["check"] in CHECK_GROUPS[group]]
    bad = [f for f in rows if f["status"] != Status.PASS]
    counts: dict[str, int] = {}
    for f in bad:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    if not bad:
        return True, f"all {len(rows)} checks pass", bad
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return Status.FAIL not in counts, f"{summary} of {len(rows)} checks", bad


def journal_description(event: lr.JournalStored) -> str:
    """The verdict in words: an error names what does not add up; a day that balances but
    booked an entry type to suspense says so first, then what to map."""
    check = event.check
    if not check.balanced:
        return "; ".join(check.problems)
    tied = f"debits equal credits ({event.lines} lines) and tie to the reports"
    return check.warning(event.currency) or tied


class Evaluator:
    """The evaluations of one step: ``groups`` are the reconciliation check groups it
    evaluates, ``journal`` whether it evaluates the journal check."""

    def __init__(
        self,
        context: dg.OpExecutionContext,
        shard: Shard,
        groups: set[str],
        journal: bool,
        data_dir: DataDir | None = None,
    ) -> None:
        self.context = context
        self.data_dir = data_dir
        self.groups = [g for g in CHECK_GROUPS if g in groups]
        self.journal = journal
        self.journal_key = shard.key(JOURNAL_KEY)
        self.reconciliation_key = shard.key(RECONCILIATION_KEY)

    def _currency(self, event: lr.FindingsStored) -> str | None:
        if self.data_dir is None:
            return None
        return ledger_currency(self.data_dir, event.ledger_id, event.ledger_date)

    def evaluations(
        self, pending: list[lr.FindingsStored | lr.JournalStored]
    ) -> Iterator[dg.AssetCheckEvaluation]:
        journals = [e for e in pending if isinstance(e, lr.JournalStored)]
        if journals and self.journal:
            yield from self._journal_evaluations(journals)
        findings = [e for e in pending if isinstance(e, lr.FindingsStored)]
        if findings and self.groups:
            yield from self._findings_evaluations(findings)

    def _journal_evaluations(
        self, events: list[lr.JournalStored]
    ) -> Iterator[dg.AssetCheckEvaluation]:
        targets = self._targets(self.journal_key, events)
        check = dg.AssetCheckKey(self.journal_key, JOURNAL_CHECK)
        theirs = self._planned_elsewhere([check], targets)
        for event in events:
            key = partition_key(event.ledger_id, event.ledger_date)
            if key in theirs:
                continue
            yield dg.AssetCheckEvaluation(
                asset_key=self.journal_key,
                check_name=JOURNAL_CHECK,
                passed=event.check.balanced and not event.check.unmapped,
                severity=dg.AssetCheckSeverity.ERROR
                if not event.check.balanced
                else dg.AssetCheckSeverity.WARN,
                partition=key,
                target_materialization_data=targets.get(key),
                description=journal_description(event),
                metadata=journal_check_metadata(event),
            )

    def _findings_evaluations(
        self, events: list[lr.FindingsStored]
    ) -> Iterator[dg.AssetCheckEvaluation]:
        targets = self._targets(self.reconciliation_key, events)
        checks = [dg.AssetCheckKey(self.reconciliation_key, g) for g in self.groups]
        theirs = self._planned_elsewhere(checks, targets)
        for event in events:
            key = partition_key(event.ledger_id, event.ledger_date)
            if key in theirs:
                continue
            target = targets.get(key)
            findings = list(event.findings)
            for group in self.groups:
                passed, description, bad = group_result(findings, group)
                yield dg.AssetCheckEvaluation(
                    asset_key=self.reconciliation_key,
                    check_name=group,
                    passed=passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    partition=key,
                    target_materialization_data=target,
                    description=description,
                    metadata={
                        # the findings that are not a pass; none: the description says so
                        # (an empty table cost a third of storing the evaluation)
                        **({"findings": findings_table(bad, self._currency(event))} if bad else {}),
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
        A plan whose run has ended without evaluating (a day that was not ready then) is
        nobody's: this run evaluates the day, or the check would stay "Skipped" for good.
        """
        keys = sorted(partitions)
        if not keys or not checks:
            return set()
        planned = {
            partition: run_id
            for partition, run_id in latest_plans(self.context.instance, checks, keys)
            if run_id != self.context.run_id
        }
        if not planned:
            return set()
        runs = self.context.instance.get_runs(
            dg.RunsFilter(run_ids=sorted(set(planned.values())), statuses=UNFINISHED)
        )
        in_flight = {run.run_id for run in runs}
        return {partition for partition, run_id in planned.items() if run_id in in_flight}

    def _targets(self, asset_key: dg.AssetKey, events: list) -> dict[str, CheckTarget]:
        """The latest materialization of each event's partition: what its check judges."""
        keys = [partition_key(e.ledger_id, e.ledger_date) for e in events]
        return check_targets(self.context.instance, asset_key, keys)
