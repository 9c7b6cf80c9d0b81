"""The record of what the alerts already said, in ``<data>/alerts/sent.json``.

It is what makes an alert once and not a flood: every open problem with the destinations it
has reached, the "resolved" messages a destination has yet to receive, each destination's
back-off after a failed delivery, the last outcome of each job, and where the findings scan
stopped. One file for every driver (the sensor, ``sync`` and ``feed`` at the command line),
rewritten atomically under a lock, so a restart or a second process never announces a
problem twice. A damaged file is set aside and starts empty: the problems still open are then
announced once more, which is better than never.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from vipps_pipeline.alerts.problems import Problem, RunOutcome
from vipps_pipeline.store.atomic import file_lock, read_json, write_json
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.paths import alerts_lock_path, alerts_sent_path


@dataclass
class Opened:
    """An open problem and the destinations that were told about it."""

    problem: Problem
    told: set[str] = field(default_factory=set)


@dataclass
class SentRecord:
    opened: dict[str, Opened] = field(default_factory=dict)
    untold_resolved: dict[str, list[Problem]] = field(default_factory=dict)
    back_off: dict[str, dict] = field(default_factory=dict)  # dest -> failures, next try
    runs: dict[str, RunOutcome] = field(default_factory=dict)
    scans: dict[str, dict] = field(default_factory=dict)  # ledger -> findings scan marks

    def to_json(self) -> dict:
        return {
            "version": 1,
            "open": {
                k: {"problem": o.problem.to_json(), "told": sorted(o.told)}
                for k, o in sorted(self.opened.items())
            },
            "resolved": {
                d: [p.to_json() for p in items] for d, items in self.untold_resolved.items()
            },
            "back_off": self.back_off,
            "runs": {j: vars(r) for j, r in self.runs.items()},
            "scans": self.scans,
        }

    @classmethod
    def from_json(cls, raw: dict) -> SentRecord:
        record = cls()
        for key, value in (raw.get("open") or {}).items():
            problem = Problem.from_json(value.get("problem") if isinstance(value, dict) else None)
            if problem is not None:
                record.opened[key] = Opened(problem, set(value.get("told") or ()))
        for dest, items in (raw.get("resolved") or {}).items():
            found = [p for p in map(Problem.from_json, items or ()) if p is not None]
            record.untold_resolved[dest] = found
        record.back_off = {
            k: v for k, v in (raw.get("back_off") or {}).items() if isinstance(v, dict)
        }
        for job, value in (raw.get("runs") or {}).items():
            with contextlib.suppress(TypeError):
                record.runs[job] = RunOutcome(**value)
        record.scans = {k: v for k, v in (raw.get("scans") or {}).items() if isinstance(v, dict)}
        return record

    def waiting(self, dest: str, now: datetime) -> bool:
        """Whether ``dest`` failed lately and is left alone until its back-off ends."""
        until = self.back_off.get(dest, {}).get("next_try")
        return bool(until) and now < datetime.fromisoformat(until)


@contextlib.contextmanager
def sent_record(data_dir: DataDir) -> Iterator[SentRecord]:
    """The record, locked for one pass and written back when the pass ends without error."""
    with file_lock(alerts_lock_path(data_dir)):
        path = alerts_sent_path(data_dir)
        record = SentRecord.from_json(read_json(path, heal=True))
        yield record
        write_json(path, record.to_json())
