"""The alerts at the end of `sync` and `feed`: never the reason a command fails."""

from __future__ import annotations

from vipps_pipeline.cli.alerting import alert_after_run
from vipps_pipeline_tests.support.receivers import free_port

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
