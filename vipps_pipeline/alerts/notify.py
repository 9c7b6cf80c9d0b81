"""One alert pass: what is wrong now, against what was already said, told to each destination.

Both drivers call :func:`alert_pass`: the Dagster sensor every minute and ``vipps-pipeline
sync``/``feed`` at their end. A pass compares the problems found now with the open ones in the
sent-record: a new problem is announced, a cleared one that was announced gets one "resolved",
everything else is silence. Each destination gets everything of a pass in one message, and one
that fails is left alone for a growing while (1 minute, doubling up to an hour) with its
messages kept for later, so a destination that is down costs a pass at most
:data:`PASS_BUDGET_SECONDS` and usually nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from vipps_pipeline.alerts import deliver, message, watch
from vipps_pipeline.alerts.problems import Problem, RunOutcome
from vipps_pipeline.alerts.sent import Opened, SentRecord, sent_record
from vipps_pipeline.alerts.wording import LedgerInfo, run_problem
from vipps_pipeline.settings import AlertSettings, PipelineSettings

log = logging.getLogger(__name__)

PASS_BUDGET_SECONDS = 30.0
"""A pass stops trying destinations once this much time has gone by (each is bounded too)."""
MAX_BACK_OFF = timedelta(hours=1)

Sender = Callable[[str, str], None]
"""Delivers (subject, text) or raises :class:`~.deliver.DeliveryFailed`."""


@dataclass
class AlertPassResult:
    """What one pass did, for the driver's one line (never a secret, never a URL)."""

    new: int = 0
    resolved: int = 0
    delivered: dict[str, int] = field(default_factory=dict)  # dest -> items in its message
    failed: dict[str, str] = field(default_factory=dict)  # dest -> why
    waiting: list[str] = field(default_factory=list)  # destinations in back-off
    off: bool = False  # no destination is set

    def line(self) -> str:
        if self.off:
            return "alerts are off: set VIPPS_ALERT_WEBHOOK_URL or VIPPS_ALERT_EMAIL_TO"
        if not (self.delivered or self.failed or self.waiting):
            return f"alerts: nothing new to tell ({self.new} new, {self.resolved} resolved)"
        parts = [f"{d}: sent {n} item(s)" for d, n in self.delivered.items()]
        parts += [f"{d}: {why}, kept for the next pass" for d, why in self.failed.items()]
        parts += [f"{d}: backing off after a failure" for d in self.waiting]
        return "alerts: " + "; ".join(parts)


def destinations(settings: AlertSettings) -> dict[str, Sender]:
    """The configured destinations by name (none set: alerts are off)."""
    out: dict[str, Sender] = {}
    if settings.alert_webhook_url is not None:
        url = settings.alert_webhook_url.get_secret_value()
        out["webhook"] = lambda _subject, text: deliver.post_webhook(url, text)
    if settings.alert_email_to:
        out["e-mail"] = lambda subject, text: deliver.send_email(settings, subject, text)
    return out


def _current(
    record: SentRecord,
    pipeline: PipelineSettings,
    ledger_ids: Sequence[str],
    ui_url: str | None,
) -> dict[str, Problem]:
    """Every problem now: ledgers outside ``ledger_ids`` keep their open problems as they are."""
    infos = watch.ledger_infos(pipeline)
    known = [o.problem for o in record.opened.values()]
    scope = set(ledger_ids)
    now: dict[str, Problem] = {p.key: p for p in known if p.ledger_id and p.ledger_id not in scope}
    for ledger_id in ledger_ids:
        scan = record.scans.setdefault(ledger_id, {})
        info = infos.get(ledger_id, LedgerInfo())
        now |= watch.finding_problems(pipeline, ledger_id, scan, known, info, ui_url)
        now |= watch.journal_problems(pipeline, ledger_id, scan, known, info, ui_url)
    now |= watch.freshness_problems(pipeline, ledger_ids, infos, ui_url)
    now |= watch.payout_problems(pipeline, ledger_ids, infos, ui_url)
    for outcome in record.runs.values():
        if (p := run_problem(outcome, ui_url)) is not None:
            now[p.key] = p
    return now


def _transitions(
    record: SentRecord, now: dict[str, Problem], dests: Iterable[str]
) -> tuple[int, int]:
    """Open the new problems, close the cleared ones (queueing "resolved" for each destination
    that was told); returns (new, resolved)."""
    new = [k for k in now if k not in record.opened]
    for key in new:
        record.opened[key] = Opened(now[key])
    cleared = [k for k in record.opened if k not in now]
    for key in cleared:
        gone = record.opened.pop(key)
        for dest in gone.told & set(dests):
            record.untold_resolved.setdefault(dest, []).append(gone.problem)
    return len(new), len(cleared)


def without_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced: an error text quoted in a problem could, in
    principle, carry one; a message must not."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _tell(
    record: SentRecord,
    name: str,
    send: Sender,
    at: datetime,
    result: AlertPassResult,
    hidden: tuple,
) -> None:
    """One message to one destination with everything it has not been told yet."""
    untold = [o for o in record.opened.values() if name not in o.told]
    resolved = record.untold_resolved.get(name, [])
    if not untold and not resolved:
        return
    subject, text = message.compose([o.problem for o in untold], resolved)
    try:
        send(without_secrets(subject, hidden), without_secrets(text, hidden))
    except deliver.DeliveryFailed as exc:
        failures = int(record.back_off.get(name, {}).get("failures", 0)) + 1
        pause = min(timedelta(minutes=2 ** (failures - 1)), MAX_BACK_OFF)
        record.back_off[name] = {"failures": failures, "next_try": (at + pause).isoformat()}
        result.failed[name] = str(exc)
        log.warning("alerts: %s: %s; trying again after %s", name, exc, at + pause)
        return
    for o in untold:
        o.told.add(name)
    record.untold_resolved.pop(name, None)
    record.back_off.pop(name, None)
    result.delivered[name] = len(untold) + len(resolved)


def alert_pass(
    alerts: AlertSettings,
    pipeline: PipelineSettings,
    ledger_ids: Sequence[str],
    outcomes: Iterable[RunOutcome] = (),
    senders: dict[str, Sender] | None = None,
    secrets: Iterable[str] = (),
) -> AlertPassResult:
    """Find what changed since the last pass and tell every configured destination once.

    ``outcomes``: how the runs the driver saw ended (a later outcome of a job replaces an
    earlier one). ``senders``: the destinations (default: the configured ones); with none,
    nothing is read or recorded, so alerts switched on later start from the problems then open.
    ``secrets``: values no message may carry besides the alerts' own (the API keys).
    """
    senders = destinations(alerts) if senders is None else senders
    result = AlertPassResult(off=not senders)
    if not senders:
        return result
    started, at = time.monotonic(), pipeline.now()
    own = (alerts.alert_webhook_url, alerts.smtp_password)
    hidden = (*secrets, *(s.get_secret_value() for s in own if s is not None))
    with sent_record(pipeline.data_dir) as record:
        for outcome in outcomes:  # scrubbed before it is stored, not only when sent
            record.runs[outcome.job] = replace(
                outcome, error=without_secrets(outcome.error, hidden)
            )
        now = _current(record, pipeline, ledger_ids, alerts.ui_url)
        result.new, result.resolved = _transitions(record, now, senders)
        for dest in list(record.untold_resolved):
            if dest not in senders:
                del record.untold_resolved[dest]
        for name, send in senders.items():
            if record.waiting(name, at):
                result.waiting.append(name)
            elif time.monotonic() - started < PASS_BUDGET_SECONDS:
                _tell(record, name, send, at, result, hidden)
    return result
