"""The report's answer to "did the money arrive": each ledger's payouts and their arrival.

A fragment per ledger for :mod:`vipps_pipeline.outputs.html_report`: the payouts counted per
status, then every payout a person must look at (missing, amount differs, in transit, not
covered) and the latest arrivals, from what the last matching run stored
(``<data>/bank/matches``).
"""

from __future__ import annotations

import html

import pandas as pd

from vipps_pipeline.domain import minor_to_text
from vipps_pipeline.store import objstore
from vipps_pipeline.store.objstore import DataDir
from vipps_pipeline.store.paths import payout_matches_path
from vipps_pipeline.store.schemas import PAYOUT_MATCH_SCHEMA

SHOWN_ARRIVALS = 5
OPEN = ("missing", "amount_differs", "in_transit", "not_covered")


def _row(r: pd.Series) -> str:
    bank = (
        f"{minor_to_text(int(r.bank_amount), r.currency)} on {r.bank_booking_date}"
        if pd.notna(r.bank_amount)
        else f"due by {r.due_date}"
    )
    cells = [
        r.ledger_date,
        r.psp_reference,
        minor_to_text(int(r.amount), r.currency),
        r.status,
        bank,
    ]
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


def sections(data_dir: DataDir) -> dict[str, str]:
    """Per ledger its payouts fragment; empty when no bank statement was ever matched."""
    path = payout_matches_path(data_dir)
    if not path.exists():
        return {}
    payouts = objstore.read_table(path, schema=PAYOUT_MATCH_SCHEMA).to_pandas()
    out = {}
    for ledger_id, mine in payouts.groupby("ledger_id", sort=True):
        counts = mine.status.value_counts().sort_index()
        shown = pd.concat(
            [
                mine[mine.status.isin(OPEN)],
                mine[mine.status == "matched"].sort_values("ledger_date").tail(SHOWN_ARRIVALS),
            ]
        )
        out[str(ledger_id)] = (
            "<h3>Payouts and their arrival in the bank</h3><p>"
            + ", ".join(f"{n} {html.escape(str(s))}" for s, n in counts.items())
            + "</p><table><tr><th>ledger date</th><th>payout</th><th>amount</th><th>status</th>"
            "<th>bank</th></tr>" + "".join(_row(r) for _, r in shown.iterrows()) + "</table>"
        )
    return out
