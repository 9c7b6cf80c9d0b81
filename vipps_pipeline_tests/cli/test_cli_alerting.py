"""The alerts at the end of `sync` and `feed`: never the reason a command fails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vipps_pipeline.cli.alerting import alert_after_run
from vipps_pipeline.simulator import Simulator, World
from vipps_pipeline_tests.support.cli import cli
from vipps_pipeline_tests.support.receivers import WebhookReceiver, free_port

TOKEN = "s3cr3t-token"


def test_a_destination_down_never_fails_the_command(tmp_path, monkeypatch):
    """The CLI's end of `sync`: one line, whatever the destination does."""
    monkeypatch.setenv("VIPPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VIPPS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/x/{TOKEN}")
    [line] = alert_after_run("vipps_sync", "run-1", False, ["ledger 100001: HTTP 503"], ["100001"])
    assert line.startswith("alerts: webhook: webhook not reachable") and TOKEN not in line
    monkeypatch.setenv("VIPPS_SMTP_PORT", "not a port")
    [line] = alert_after_run("vipps_sync", "run-2", True, [], ["100001"])
    assert line == "alerts: not sent: VIPPS_SMTP_PORT must be a whole number, got 'not a port'"


@pytest.mark.slow
def test_rejected_keys_are_told_once_by_cron_syncs_and_resolved_once(tmp_path):
    """`vipps-pipeline sync` as cron runs it: keys rejected on two syncs in a row are one
    message, keys fixed are one "resolved"; the wrong secret is in neither."""
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    with Simulator(World(seed=0), clock=lambda: now) as sim, WebhookReceiver() as hook:
        env = {
            **sim.env("merchant"),
            "VIPPS_DATA_DIR": str(tmp_path / "data"),
            "VIPPS_START_DATE": "2026-11-15",
            "VIPPS_NOW": now.isoformat(),
            "VIPPS_ALERT_WEBHOOK_URL": hook.url,
        }
        args = ("sync", "--ledger", "100001", "--dagster-home", str(tmp_path / "home"))
        bad = {**env, "VIPPS_CLIENT_SECRET": "wrong-secret-42"}
        runs = [cli(*args, cwd=tmp_path, env=e) for e in (bad, bad, env)]
    assert [r.returncode for r in runs] == [1, 1, 0], runs[0].stdout + runs[0].stderr[-2000:]
    assert [r.stdout.splitlines()[-1] for r in runs] == [
        "alerts: webhook: sent 1 item(s)",
        "alerts: nothing new to tell (0 new, 0 resolved)",
        "alerts: webhook: sent 1 item(s)",
    ]
    told, resolved = hook.texts
    assert "PROBLEM: the Report API rejected the API keys" in told
    assert (
        resolved == "vipps_pipeline: 1 resolved\n\nRESOLVED: the Report API rejected the API keys\n"
    )
    assert "wrong-secret-42" not in told + resolved
