"""The booking that closes the loop: a payout seen in the bank leaves "payouts in transit".

Each matched payout is one voucher on the bank's booking date: debit the bank account, credit
payouts in transit (the chart's ``bank`` and ``payouts_in_transit`` accounts), so account 1945
holds exactly the payouts not yet seen in the bank on every date. A payout whose amount
differs is not posted: a person decides what the difference is first.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from vipps_pipeline.books.bank.matching import MATCHED, Decision
from vipps_pipeline.books.journal import Chart
from vipps_pipeline.store.schemas import JOURNAL_SCHEMA

BANK_TOPIC = "bank"
ARRIVED = "payout-arrived"


def bank_journal(ledger_id: str, decisions: list[Decision], chart: Chart) -> pa.Table:
    """Two journal lines per matched payout of one ledger, dated the bank's booking date."""
    rows = []
    per_day: Counter = Counter()
    arrived = [d for d in decisions if d.status == MATCHED and d.line is not None]
    for d in sorted(arrived, key=lambda d: (d.line.booking_date, d.payout.psp_reference)):
        booked = d.line.booking_date
        for key, debit, credit in (
            ("bank", d.payout.amount, 0),
            ("payouts_in_transit", 0, d.payout.amount),
        ):
            number, name = chart.accounts.get(key) or chart.account(chart.unmapped)
            rows.append(
                {
                    "ledger_id": ledger_id,
                    "ledger_date": booked,
                    "voucher": f"{ledger_id}-bank-{booked.isoformat()}",
                    "line": per_day[booked],
                    "topic": BANK_TOPIC,
                    "entry_type": ARRIVED,
                    "account": number,
                    "account_name": name,
                    "debit": debit,
                    "credit": credit,
                    "currency": d.payout.currency,
                    "entries": 1,
                    "psp_reference": d.payout.psp_reference,
                    "text": f"payout {d.payout.psp_reference} arrived in the bank",
                    "unmapped": False,
                }
            )
            per_day[booked] += 1
    return pa.Table.from_pylist(rows, schema=JOURNAL_SCHEMA)
