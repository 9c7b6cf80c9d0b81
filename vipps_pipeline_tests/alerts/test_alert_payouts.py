"""Payouts that the bank statements say did not arrive, or arrived short, are told once; the
quiet statuses (in transit, matched, aborted) never are."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from vipps_pipeline.alerts.notify import alert_pass
from vipps_pipeline.store.paths import payout_matches_path
from vipps_pipeline.store.schemas import PAYOUT_MATCH_SCHEMA
from vipps_pipeline_tests.support.alerting import LEDGER, alerts, pipeline, register
from vipps_pipeline_tests.support.receivers import WebhookReceiver


def _payout(ref: str, status: str, bank_amount: int | None = None) -> dict:
    return {
        "ledger_id": LEDGER,
        "ledger_date": date(2026, 11, 16),
        "psp_reference": f"{LEDGER}-{ref}",
        "amount": 1_234_56,
        "currency": "NOK",
        "status": status,
        "bank_booking_date": date(2026, 11, 18) if bank_amount is not None else None,
        "bank_amount": bank_amount,
        "bank_text": "Utb. 17 Vippsnr 123456" if bank_amount is not None else None,
        "due_date": date(2026, 11, 19),
        "matched_by": "text" if bank_amount is not None else None,
        "bank_line_id": "L1" if bank_amount is not None else None,
    }


def _store(data_dir, rows: list[dict]) -> None:
    path = payout_matches_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=PAYOUT_MATCH_SCHEMA), path)


def test_a_missing_or_short_payout_alerts_once_and_its_arrival_resolves_it(tmp_path):
    register(tmp_path)
    quiet = [_payout("1", "matched", 1_234_56), _payout("2", "in_transit"), _payout("3", "aborted")]
    with WebhookReceiver() as hook:
        settings = alerts(hook.url)
        _store(
            tmp_path, [*quiet, _payout("4", "missing"), _payout("5", "amount_differs", 1_000_00)]
        )
        first = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert first.new == 2 and len(hook.posts) == 1
        [text] = hook.texts
        assert f"payout {LEDGER}-4 did not arrive" in text
        assert f"payout {LEDGER}-5 arrived short" in text
        assert "1234.56 NOK in the bank by 2026-11-19" in text and "1000.00 NOK booked" in text
        assert all(f"{LEDGER}-{n}" not in text for n in "123")

        assert alert_pass(settings, pipeline(tmp_path), [LEDGER]).new == 0
        _store(
            tmp_path,
            [*quiet, _payout("4", "matched", 1_234_56), _payout("5", "amount_differs", 1_000_00)],
        )
        cleared = alert_pass(settings, pipeline(tmp_path), [LEDGER])
        assert cleared.resolved == 1 and f"RESOLVED: payout {LEDGER}-4" in hook.texts[-1]
        assert len(hook.posts) == 2
