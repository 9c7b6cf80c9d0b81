"""What to fetch and recompute next, decided from what is stored: plain Python, no Dagster.

Every driver uses it: the hourly Dagster sensor, ``vipps-pipeline sync`` and the tests. For
each ledger it walks from each topic's *frontier* (the first date not stored final) up to
yesterday. There is no lookback window: a date that stays open for 90 days (a negative balance)
is fetched the first hour it is closed, and a ledger that appears with years of history is
fetched from the start date.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import date, timedelta

from vipps_pipeline.settings import TOPICS
from vipps_pipeline.store import state
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.state import LedgerState, Probe
from vipps_pipeline.sync import completeness

PLAN_CACHE_SIZE = 8192
"""Plans kept per process (one per ledger and day in steady state): enough for every ledger of
a large unsharded location, a few hundred bytes each."""

ATTENTION = ("stale", "failed", "not_yours")
"""Freshness states that need a person: WARNs and an ERROR on the freshness check."""


def deal(ledger_ids: list[str], runs: int) -> list[list[str]]:
    """The ledgers dealt round-robin over at most ``runs`` runs, each ledger in exactly one
    (sorted first: a large ledger list's neighbours, often one partner's, spread over runs)."""
    return [g for g in (sorted(ledger_ids)[i::runs] for i in range(max(1, runs))) if g]


SHOWN_LEDGERS = 6
"""Ledger ids a share's label names before "+N more" (a run tag stays readable in the UI)."""


def share_label(share: list[str], number: int, runs: int) -> dict[str, str]:
    """What tells one of a sync's runs from the others in the UI's run list: which share it
    is and its ledgers (the first few, then a count)."""
    shown = ", ".join(share[:SHOWN_LEDGERS])
    more = f" +{len(share) - SHOWN_LEDGERS} more" if len(share) > SHOWN_LEDGERS else ""
    return {"vipps/share": f"{number} of {runs}", "vipps/ledgers": shown + more}


def failed(row: Freshness, why: str) -> Freshness:
    """A ledger the last sync failed on: whatever is stored, it is not shown ``ok``."""
    if row.status != "ok":
        return row
    return replace(row, status="failed", detail=f"{why}; {row.detail}")


@dataclass(frozen=True)
class TopicStatus:
    topic: str
    final_through: date | None
    frontier: date
    probe: Probe | None  # the API's last "not ready" answer for the frontier, if any


@dataclass(frozen=True)
class LedgerPlan:
    ledger_id: str
    until: date  # the last date that may be final (yesterday)
    topics: tuple[TopicStatus, ...]
    stale_statements: tuple[date, ...]
    stale_findings: tuple[date, ...]
    stale_journal: tuple[date, ...] = ()
    schedule: str | None = None  # how the ledger pays out, learned (None: not yet known)

    @property
    def final_through(self) -> date | None:
        """The last date up to which both topics are stored final."""
        dates = [t.final_through for t in self.topics]
        return None if None in dates else min(dates)  # type: ignore[type-var]

    @property
    def frontier(self) -> date:
        return min(t.frontier for t in self.topics)

    @property
    def fetch(self) -> tuple[date, ...]:
        """Dates to walk (from the earliest frontier to ``until``; empty when up to date)."""
        first = self.frontier
        return tuple(first + timedelta(days=k) for k in range((self.until - first).days + 1))

    @property
    def stale(self) -> tuple[date, ...]:
        return tuple(
            sorted(set(self.stale_statements) | set(self.stale_findings) | set(self.stale_journal))
        )

    @property
    def open_since(self) -> date | None:
        """The frontier, when the API said at the last poll that it is not final yet."""
        probed = [t.frontier for t in self.topics if t.probe is not None]
        return min(probed) if probed else None

    @property
    def has_work(self) -> bool:
        return bool(self.fetch or self.stale)

    def dates(self, fetch: bool = True) -> tuple[date, ...]:
        """Every date a sync run of this ledger must visit."""
        return tuple(sorted(set(self.fetch if fetch else ()) | set(self.stale)))


def plan_ledger(
    inv: completeness.Inventory,
    ledger_state: LedgerState,
    *,
    start: date,
    until: date,
    window: int,
) -> LedgerPlan:
    topics = []
    for topic in TOPICS:
        stored = inv.dates(f"reports/{topic}")
        last = completeness.final_through(stored, start)
        nxt = start if last is None else last + timedelta(days=1)
        probe = ledger_state.probes.get(topic)
        topics.append(
            TopicStatus(topic, last, nxt, probe if probe and probe.ledger_date == nxt else None)
        )
    stale_statements, stale_findings = completeness.stale_days(inv, window)
    return LedgerPlan(
        inv.ledger_id,
        until,
        tuple(topics),
        tuple(d for d in stale_statements if d >= start),
        tuple(d for d in stale_findings if d >= start),
        tuple(d for d in completeness.stale_journal(inv) if d >= start),
        ledger_state.schedule,
    )


def plan_stored(
    data_dir: DataDir, ledger_id: str, *, start: date, until: date, window: int
) -> LedgerPlan:
    """The plan from what is stored now. A ledger whose files and state have not changed since
    its last plan (same :func:`completeness.fingerprint`) gets that plan again without listing
    its files: the sync sensor plans every ledger every minute, and a full scan of three years
    is about 0.1 s per ledger."""
    stamp = completeness.fingerprint(data_dir, ledger_id)
    if stamp is None:
        return _plan_now(data_dir, ledger_id, start, until, window)
    # the fingerprint is read before the scan: a change in between makes the next one differ
    return _plan_unchanged(data_dir, ledger_id, start, until, window, stamp)


def _plan_now(
    data_dir: DataDir, ledger_id: str, start: date, until: date, window: int
) -> LedgerPlan:
    return plan_ledger(
        completeness.scan(data_dir, ledger_id, verify=True),
        state.load(data_dir, ledger_id),
        start=start,
        until=until,
        window=window,
    )


@functools.lru_cache(maxsize=PLAN_CACHE_SIZE)
def _plan_unchanged(
    data_dir: DataDir,
    ledger_id: str,
    start: date,
    until: date,
    window: int,
    stamp: completeness.Fingerprint,
) -> LedgerPlan:
    return _plan_now(data_dir, ledger_id, start, until, window)


@dataclass(frozen=True)
class Freshness:
    """One ledger's line in the freshness check."""

    ledger_id: str
    final_through: date | None
    open_since: date | None
    days_behind: int  # days from the frontier to today
    status: str  # "ok", "open", "catching_up", "stale" (WARN) or "not_yours" (ERROR)
    detail: str


def _why_open(schedule: str | None, behind: int) -> str:
    """Why a date is open, by the ledger's own payout schedule: a period's dates close together
    at its payout, so a monthly ledger is open all month, a daily one only until tomorrow
    (longer: its payout is held, as a negative balance does until a top-up clears it)."""
    if schedule is None:
        return "the payout schedule is not learned yet (dates close at their period's payout)"
    period = {"daily": 1, "weekly": 7, "monthly": 31}[schedule]
    if behind <= period + 1:
        return f"normal for {schedule} settlement (dates close at the period's payout)"
    return (
        f"longer than {schedule} settlement explains: the payout is held (a negative balance "
        "stays open until a top-up clears it)"
    )


def freshness(
    plan: LedgerPlan, *, today: date, stale_days: int, persistent_404_days: int
) -> Freshness:
    """Open for a while is normal (the ledger's settlement period, a negative balance), and the
    text says which by the ledger's learned payout schedule; open for longer than
    ``stale_days`` deserves a look; a 404 that persists ``persistent_404_days`` after its date
    means the keys probably cannot read the ledger.

    Persisting is measured from the 404's first sighting, not only from the date's age: on
    an old date (a backfill, a sync after a pause) the very first answer would otherwise be
    enough, and one transient 404 would raise the ERROR.
    """
    behind = (today - plan.frontier).days
    lost = [
        t
        for t in plan.topics
        if t.probe is not None
        and t.probe.reason == "404"
        and (today - t.probe.ledger_date).days > persistent_404_days
        and (today - t.probe.first_seen.date()).days >= persistent_404_days
    ]
    if lost:
        t = lost[0]
        assert t.probe is not None
        status = "not_yours"
        detail = (
            f"{t.topic} of {t.probe.ledger_date} still answers HTTP 404 "
            f"({t.probe.detail or 'no detail'}) {(today - t.probe.ledger_date).days} days after "
            f"the date and {(today - t.probe.first_seen.date()).days} days after the first "
            f"404 ({t.probe.first_seen.date()}): the ledger may not belong to these API keys "
            "(has the merchant granted access?)"
        )
    elif behind > stale_days and plan.open_since is None:
        status = "catching_up"
        detail = (
            f"final through {plan.final_through or '-'}: {behind} days to fetch (a new ledger, "
            "or one whose last sync stopped early); the next sync continues"
        )
    elif behind > stale_days:
        status = "stale"
        said = "; ".join(sorted({t.probe.reason for t in plan.topics if t.probe}))
        detail = (
            f"not final since {plan.frontier} ({behind} days, more than VIPPS_STALE_DAYS="
            f"{stale_days}); the API says {said}"
        )
    elif plan.open_since is not None:
        status = "open"
        detail = f"open since {plan.open_since} ({behind} days): {_why_open(plan.schedule, behind)}"
    else:
        status = "ok"
        detail = "final through " + (str(plan.final_through) if plan.final_through else "-")
    return Freshness(plan.ledger_id, plan.final_through, plan.open_since, behind, status, detail)
