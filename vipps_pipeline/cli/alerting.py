"""The alerts at the end of ``sync`` and ``feed``: for cron users, who have no sensor.

One alert pass after the run, on the same sent-record as the sensor's, so a problem is told
once whichever driver sees it first. Alerting never changes the command's exit status: a bad
alert setting or a destination that is down is one ``alerts:`` line in the output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

log = logging.getLogger(__name__)


def alert_after_run(
    job: str, run_id: str, ok: bool, errors: Sequence[str], ledger_ids: Sequence[str]
) -> list[str]:
    """One alert pass telling how ``job``'s run ended; returns the line to print (none when
    no destination is set)."""
    from vipps_pipeline.alerts.notify import alert_pass
    from vipps_pipeline.alerts.problems import RunOutcome
    from vipps_pipeline.settings import AlertSettings, ApiSettings, PipelineSettings, SettingsError

    try:
        alerts = AlertSettings.from_env(os.environ)
        pipeline = PipelineSettings.from_env(os.environ)
    except SettingsError as exc:
        return [f"alerts: not sent: {exc}"]
    try:
        secrets = ApiSettings.from_env(os.environ).secrets
    except SettingsError:
        secrets = ()
    outcome = RunOutcome(job, run_id, ok, "; ".join(errors[:3]))
    try:
        result = alert_pass(alerts, pipeline, ledger_ids, [outcome], secrets=secrets)
    except Exception as exc:  # the sync's own result stands, whatever the alerts do
        log.warning("alerts: the pass failed", exc_info=True)
        return [f"alerts: not sent ({type(exc).__name__})"]
    return [] if result.off else [result.line()]
