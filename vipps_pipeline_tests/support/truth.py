"""The simulator's ground truth compared with what a run stored."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq

from vipps_pipeline.simulator import World
from vipps_pipeline.store.paths import report_path

TOPICS = ("funds", "fees")


def truth_row(e: dict, seq: int) -> dict:
    t = datetime.fromisoformat(e["time"].replace("Z", "+00:00")).astimezone(UTC)
    return {
        "ledger_date": date.fromisoformat(e["ledgerDate"]), "seq": seq,
        "psp_reference": e["pspReference"], "time": t, "entry_type": e["entryType"],
        "reference": e["reference"], "currency": e["currency"], "amount": e["amount"],
        "balance_before": e["balanceBefore"], "balance_after": e["balanceAfter"],
        "recipient_handle": e["recipientHandle"], "name": None, "masked_phone_no": None,
        "message": None, "extra_fields": None,
    }  # fmt: skip


def compare_with_truth(world: World, data_dir: Path, ledger_ids, dates, now) -> dict[str, int]:
    """Every closed ledger-day before a ledger's first open date stored exactly as served;
    from the first open date on nothing (the walk stops there: the vendor closes a ledger's
    dates in order, so later dates wait for the next poll)."""
    seen = {"rows": 0, "closed_days": 0, "open_days": 0}
    for ledger_id in ledger_ids:
        spec = world.ledgers[ledger_id]
        blocked = False
        for d in dates:
            blocked = blocked or world.status(spec, d, now) != "closed"
            closed = not blocked
            for topic in TOPICS:
                path = report_path(data_dir, topic, ledger_id, d)
                if not closed:
                    assert not path.exists(), f"{path} stored past the ledger's frontier"
                    continue
                rows = pq.read_table(path).to_pylist()
                truth = [
                    truth_row(e, i) for i, e in enumerate(world.day(ledger_id, topic, d).entries)
                ]
                stored = [
                    {k: v for k, v in r.items() if k not in ("ledger_id", "topic")} for r in rows
                ]
                assert stored == truth, (ledger_id, topic, d)
                assert {r["ledger_id"] for r in rows} <= {ledger_id}
                seen["rows"] += len(rows)
            seen["closed_days" if closed else "open_days"] += 1
    return seen
