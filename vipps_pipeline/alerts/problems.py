"""What an alert is about: one problem with a stable key, and how a run ended.

The key names the transition the issue asks to announce once (kind, ledger, date, check), so
the same break found again by the next sync is the same problem, not a new one. A problem keeps
its words: its "resolved" message is written from them after the data that raised it is gone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Problem:
    """One thing a person should look at, already in plain words."""

    key: str  # e.g. "check:reconciliation:100001:2026-11-20:funds:chain_across_days"
    kind: str  # "check", "stale", "not_yours", "payout", "credentials" or "run"
    title: str  # what went wrong, one line
    ledger_id: str = ""  # empty for problems of a whole run
    ledger: str = ""  # "ledger 100001 (ACME Fitness)"
    when: str = ""  # "ledger date 2026-11-20"
    expected: str = ""
    found: str = ""
    todo: str = ""  # what to do
    link: str = ""  # the partition, check or run in the UI (with VIPPS_UI_URL)
    source: str = ""  # the file that raised it (kind/ledger/date), for findings

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: object) -> Problem | None:
        """None for an entry that is not a problem (a damaged record is forgotten)."""
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or not {"key", "kind", "title"} <= raw.keys():
            return None
        return cls(**{k: str(v) for k, v in raw.items() if k in names})


@dataclass(frozen=True)
class RunOutcome:
    """How a sync or feed run ended, as its driver saw it."""

    job: str  # "vipps_sync" or "vipps_feed"
    run_id: str
    ok: bool
    error: str = ""  # the first error lines of a failed run
