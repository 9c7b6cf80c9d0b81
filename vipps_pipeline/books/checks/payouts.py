"""Payouts and invoices: how money leaves each ledger at the end of a day or a month.

A payout empties the funds ledger down to an optional rolling reserve and is the day's last
funds entry; a gross-settlement fee invoice clears the fees ledger's balance exactly.
"""

from __future__ import annotations

from vipps_pipeline.books.checks.base import CheckInputs, check, entry, grouped, listed
from vipps_pipeline.books.statements import PAYOUT_TYPES
from vipps_pipeline.domain import Status, finding

PAYOUTS_GROUP = "payouts_and_invoices"


@check(
    PAYOUTS_GROUP,
    "payout_last",
    "A payout is the day's last funds entry and never pays out more than the "
    "balance (a rolling reserve may stay behind).",
)
def payout_last(inp: CheckInputs) -> list[dict]:
    e = inp.entries
    pay_by = grouped(e[(e.topic == "funds") & e.entry_type.isin(PAYOUT_TYPES)])
    out = []
    for topic, d in inp.keys:
        if topic != "funds":
            continue
        g = pay_by.get((topic, d))
        if g is None:
            out.append(
                finding(inp.ledger_id, d, topic, "payout_last", Status.PASS, detail="no payout")
            )
            continue
        day = inp.day_totals.get((topic, d))
        problems = _payout_problems(g, -1 if day is None else int(day[5]))
        x = g[-1]
        kept = x["balance_before"] + x["amount"]
        note = f"payout {entry(x)} of {-x['amount']}" + (
            f", {kept} kept on the ledger (rolling reserve)" if kept > 0 else ""
        )
        out.append(
            finding(
                inp.ledger_id,
                d,
                topic,
                "payout_last",
                Status.FAIL if problems else Status.PASS,
                x["balance_before"],
                -x["amount"],
                listed(problems) or note,
            )
        )
    return out


def _payout_problems(payouts: list[dict], last_seq: int) -> list[str]:
    """What is wrong with a day's payout entries: not last, positive, or more than the balance
    (less is fine: the rest is a rolling reserve)."""
    problems = []
    for x in payouts:
        if x["seq"] != last_seq:
            problems.append(
                f"{entry(x)} {x['entry_type']} is not the last entry (last is seq {last_seq})"
            )
        if x["amount"] > 0:
            problems.append(f"{entry(x)} pays out a positive amount {x['amount']}")
        elif x["balance_before"] + x["amount"] < 0:
            problems.append(
                f"{entry(x)} pays out {-x['amount']}, more than the balance "
                f"{x['balance_before']} before it"
            )
    return problems


@check(
    PAYOUTS_GROUP,
    "fees_invoiced",
    "A monthly fee invoice (gross settlement) clears exactly the fee balance.",
)
def fees_invoiced(inp: CheckInputs) -> list[dict]:
    e = inp.entries
    inv_by = grouped(e[(e.topic == "fees") & (e.entry_type == "fees-invoiced")])
    out = []
    for topic, d in inp.keys:
        if topic != "fees":
            continue
        g = inv_by.get((topic, d), [])
        problems = [
            f"{entry(x)} invoices {x['amount']}, fee balance before was {x['balance_before']}"
            for x in g
            if x["amount"] != -x["balance_before"]
        ]
        note = "invoice clears the fee balance" if g else "no invoice"
        out.append(
            finding(
                inp.ledger_id,
                d,
                topic,
                "fees_invoiced",
                Status.FAIL if problems else Status.PASS,
                detail=listed(problems) or note,
            )
        )
    return out
