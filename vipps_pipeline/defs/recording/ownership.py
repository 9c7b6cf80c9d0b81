"""Which ledger-days a run answers for, and what its tags say about them.

Dagster's backfill pages count from what a backfill's runs did, not from what is on disk:

- a Jobs-page backfill counts every partition inside a run's range tags with that run's status;
  Dagster gives each of its runs the per-dimension tags of the backfill's FIRST partition
  (``ledger=100001, date=<first date>`` on every run), so the runs list names the wrong days;
- an asset-graph backfill counts every materialization written by a run tagged with the
  backfill, inside its target or not: neighbouring days whose findings a run recomputed (the
  balance chain, the fee window) made it report more partitions than were targeted.

So a run states what it covers (its dimension tags rewritten from its range) and how many of its
ledger-days were stored and not ready (``vipps/stored``, ``vipps/not_ready``, shown in every
runs list), and a backfill's run reconciles only its own days: the neighbours they make stale
are recomputed by the sync sensor's derive run, which is no backfill's. (Recording them from
the backfill's run as runless events does not work: Dagster stores one runless check
evaluation per partition, ever.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from vipps_pipeline.defs.partitions import (
    DIMENSION_TAG_PREFIX,
    RANGE_END_TAG,
    RANGE_START_TAG,
    LedgerDayPartition,
)

BACKFILL_TAG = "dagster/backfill"
NOT_READY_TAG = "vipps/not_ready"
STORED_TAG = "vipps/stored"


def span(values: Sequence[str]) -> str:
    """One value, or ``first...last`` (Dagster's own notation for a partition range)."""
    ordered = sorted(set(values))
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}...{ordered[-1]}"


def coverage_tags(tags: Mapping[str, str], days: Sequence[LedgerDayPartition]) -> dict[str, str]:
    """The per-dimension tags a ranged run should carry: what its range covers.

    Only for runs that carry both range tags and dimension tags (a Jobs-page backfill's runs):
    there the dimension tags name the backfill's first partition whatever the run covers.
    """
    ranged = tags.get(RANGE_START_TAG) and tags.get(RANGE_END_TAG)
    dims = [k for k in tags if k.startswith(DIMENSION_TAG_PREFIX)]
    if not (ranged and dims and days):
        return {}
    wanted = {
        f"{DIMENSION_TAG_PREFIX}date": span([d.ledger_date.isoformat() for d in days]),
        f"{DIMENSION_TAG_PREFIX}ledger": span([d.ledger_id for d in days]),
    }
    return {k: v for k, v in wanted.items() if tags.get(k) != v}


def is_backfill(tags: Mapping[str, str]) -> bool:
    """Whether the run is one of a backfill's (Dagster tags each with the backfill's id)."""
    return bool(tags.get(BACKFILL_TAG))


def not_ready_days(
    days: Sequence[LedgerDayPartition], first_open: Mapping[str, date]
) -> list[LedgerDayPartition]:
    """The run's ledger-days that were not ready: from each ledger's first open date on (the
    vendor closes a ledger's dates in order, so no later date can be final)."""
    return [d for d in days if d.ledger_date >= first_open.get(d.ledger_id, date.max)]


def outcome_tags(
    days: Sequence[LedgerDayPartition], first_open: Mapping[str, date]
) -> dict[str, str]:
    """``vipps/stored`` and ``vipps/not_ready`` for the run's own ledger-days.

    A Jobs-page backfill counts a not-ready day under its run's status ("succeeded"): these
    tags, in the backfill's runs list, say how many of those days were stored and which not.
    """
    waiting = not_ready_days(days, first_open)
    by_ledger: dict[str, list[str]] = {}
    for d in waiting:
        by_ledger.setdefault(d.ledger_id, []).append(d.ledger_date.isoformat())
    detail = "; ".join(f"{lid} {span(ds)}" for lid, ds in sorted(by_ledger.items()))
    return {
        STORED_TAG: f"{len(days) - len(waiting)} of {len(days)} ledger-days",
        NOT_READY_TAG: f"{len(waiting)} ({detail})" if waiting else "0",
    }
