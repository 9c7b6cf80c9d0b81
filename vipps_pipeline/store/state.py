"""Per-ledger facts that no data file holds, in ``<data>/state/<ledger>.json``.

- The API's last "not ready" answer at each topic's frontier (404 or ``tryLater``), with when it
  was first and last seen: how long a ledger has been open, and whether a 404 persists.
- The settlement type learned from the ledger's history (net: fees retained from the funds;
  gross: fees invoiced), so one day without fees retained is judged against the ledger's
  agreement rather than guessed from that day alone.
- The payout schedule (daily, weekly, monthly) learned from the ledger's recent payout dates,
  so the freshness check explains an open date by this ledger's own settlement, not a guess.

The files are tiny and rewritten atomically under the ledger's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

from vipps_pipeline.store.atomic import ledger_lock, quarantine, read_json, write_json
from vipps_pipeline.store.paths import state_path

NOT_READY_REASONS = ("404", "tryLater")


@dataclass(frozen=True)
class Probe:
    """The API said a topic's frontier date is not final yet."""

    topic: str
    ledger_date: date
    reason: str  # "404" or "tryLater"
    detail: str
    first_seen: datetime
    last_seen: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "date": self.ledger_date.isoformat(),
            "reason": self.reason,
            "detail": self.detail,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }

    @classmethod
    def from_json(cls, topic: str, raw: dict) -> Probe | None:
        try:
            return cls(
                topic=topic,
                ledger_date=date.fromisoformat(raw["date"]),
                reason=raw["reason"] if raw["reason"] in NOT_READY_REASONS else "tryLater",
                detail=str(raw.get("detail", "")),
                first_seen=datetime.fromisoformat(raw["first_seen"]),
                last_seen=datetime.fromisoformat(raw["last_seen"]),
            )
        except (KeyError, TypeError, ValueError):
            return None  # a damaged entry is forgotten: the next poll writes it again


@dataclass
class LedgerState:
    probes: dict[str, Probe] = field(default_factory=dict)
    settlement: str | None = None
    settlement_seen: date | None = None
    schedule: str | None = None  # "daily", "weekly" or "monthly": how often it pays out
    payouts: tuple[date, ...] = ()  # the latest payout dates seen, the schedule's evidence


RECENT_PAYOUTS = 12
"""Payout dates kept as evidence: enough for a median gap that one late payout cannot move."""


def schedule_of(payouts: tuple[date, ...]) -> str | None:
    """The schedule the payout dates show, from the median gap between consecutive payouts: a
    daily ledger skips quiet days and a negative balance holds payouts for weeks, so neither
    the smallest nor the largest gap says it. None: fewer than two payouts seen."""
    gaps = sorted((b - a).days for a, b in pairwise(payouts))
    if not gaps:
        return None
    median = gaps[len(gaps) // 2]
    return "daily" if median <= 3 else "weekly" if median <= 10 else "monthly"


def _dates(raw: object) -> tuple[date, ...]:
    try:
        return tuple(sorted({date.fromisoformat(d) for d in raw})) if isinstance(raw, list) else ()
    except (TypeError, ValueError):
        return ()  # damaged evidence is forgotten: the next statements learn it again


def load(data_dir: Path, ledger_id: str) -> LedgerState:
    """The ledger's state; a file that is not JSON or not of this shape is quarantined and the
    state starts empty: probes are polled again and the settlement type learned again from the
    stored days, so nothing the file held is lost for good."""
    path = state_path(data_dir, ledger_id)
    raw = read_json(path, heal=True)
    if not isinstance(raw.get("probes") or {}, dict) or not isinstance(
        raw.get("settlement"), str | None
    ):
        quarantine(path, "not a ledger state (probes must be an object)")
        raw = {}
    probes = {}
    for topic, value in (raw.get("probes") or {}).items():
        probe = Probe.from_json(topic, value) if isinstance(value, dict) else None
        if probe is not None:
            probes[topic] = probe
    seen = raw.get("settlement_seen")
    try:
        seen_date = date.fromisoformat(seen) if isinstance(seen, str) else None
    except ValueError:
        seen_date = None
    settlement = raw.get("settlement")
    return LedgerState(
        probes=probes,
        settlement=settlement if settlement in ("net", "gross") else None,
        settlement_seen=seen_date,
        schedule=schedule_of(payouts) if (payouts := _dates(raw.get("payouts"))) else None,
        payouts=payouts,
    )


def _save(data_dir: Path, ledger_id: str, state: LedgerState) -> None:
    write_json(
        state_path(data_dir, ledger_id),
        {
            "probes": {t: p.to_json() for t, p in sorted(state.probes.items())},
            "settlement": state.settlement,
            "settlement_seen": state.settlement_seen.isoformat() if state.settlement_seen else None,
            "payouts": [d.isoformat() for d in state.payouts],
        },
    )


def record_probe(
    data_dir: Path,
    ledger_id: str,
    topic: str,
    ledger_date: date,
    reason: str,
    detail: str,
    now: datetime | None = None,
) -> Probe:
    """Remember a not-ready answer; keeps ``first_seen`` while the same date stays open."""
    now = now or datetime.now(UTC)
    with ledger_lock(data_dir, ledger_id):
        state = load(data_dir, ledger_id)
        old = state.probes.get(topic)
        first = (
            old.first_seen
            if old is not None and old.ledger_date == ledger_date and old.reason == reason
            else now
        )
        probe = Probe(topic, ledger_date, reason, detail, first, now)
        state.probes[topic] = probe
        _save(data_dir, ledger_id, state)
    return probe


def clear_probes(data_dir: Path, ledger_id: str, stored: dict[str, set[date]]) -> None:
    """Forget the not-ready answers of dates that have since been stored."""
    state = load(data_dir, ledger_id)
    if not any(p.ledger_date in stored.get(t, ()) for t, p in state.probes.items()):
        return
    with ledger_lock(data_dir, ledger_id):
        state = load(data_dir, ledger_id)
        state.probes = {
            t: p for t, p in state.probes.items() if p.ledger_date not in stored.get(t, ())
        }
        _save(data_dir, ledger_id, state)


def learn_settlement(data_dir: Path, ledger_id: str, evidence: dict[date, str]) -> str | None:
    """Update the ledger's settlement type from days that showed it, and return it.

    ``net`` once any day retained fees from the funds (a net ledger does so on every day with
    fees; a gross one never); ``gross`` when fees were invoiced and never retained. A ledger
    whose agreement changed needs VIPPS_SETTLEMENT. Call with the ledger's lock held.
    """
    state = load(data_dir, ledger_id)
    kinds = set(evidence.values()) | ({state.settlement} if state.settlement else set())
    learned = "net" if "net" in kinds else "gross" if "gross" in kinds else None
    if learned is not None and learned != state.settlement:
        first = min(d for d, kind in evidence.items() if kind == learned)
        _save(data_dir, ledger_id, replace(state, settlement=learned, settlement_seen=first))
    return learned


def learn_schedule(data_dir: Path, ledger_id: str, payouts: set[date]) -> str | None:
    """Add payout dates seen in stored days to the ledger's evidence and return its schedule.
    Call with the ledger's lock held."""
    state = load(data_dir, ledger_id)
    recent = tuple(sorted(set(state.payouts) | payouts))[-RECENT_PAYOUTS:]
    if recent != state.payouts:
        _save(data_dir, ledger_id, replace(state, payouts=recent, schedule=schedule_of(recent)))
    return schedule_of(recent)
