"""Match every stored payout against every stored bank line, and store what was decided.

Reads the payouts from the stored funds reports (a ``payout-aborted`` with the same
pspReference marks one aborted), the ledgers' payout accounts from the ledger list, and the
bank lines; writes the payouts with their status, the lines with theirs, and per ledger the
journal lines that move each arrived payout from in transit to the bank account. Everything is
decided again from all the stored data on every run, so a later statement or a newly stored
day re-decides whatever it affects, and running it twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from vipps_pipeline.books.bank import matching
from vipps_pipeline.books.bank.calendar import country_of
from vipps_pipeline.books.bank.postings import bank_journal
from vipps_pipeline.books.bank.store import read_lines
from vipps_pipeline.books.journal import Chart
from vipps_pipeline.books.statements import PAYOUT_TYPES
from vipps_pipeline.store import objstore
from vipps_pipeline.store.atomic import file_lock, write_table
from vipps_pipeline.store.objstore import DataDir, as_dir
from vipps_pipeline.store.paths import (
    bank_journal_path,
    bank_line_status_path,
    bank_lock_path,
    ledgers_path,
    payout_matches_path,
)
from vipps_pipeline.store.schemas import (
    BANK_LINE_STATUS_SCHEMA,
    LEDGER_SCHEMA,
    PAYOUT_MATCH_SCHEMA,
    REPORT_SCHEMA,
)

ABORTED_TYPE = "payout-aborted"


@dataclass(frozen=True)
class Outcome:
    """What a matching run decided: counts per status, and the payouts a person must look at."""

    payouts: Counter = field(default_factory=Counter)
    lines: Counter = field(default_factory=Counter)
    problems: tuple[matching.Decision, ...] = ()


def _ledger_accounts(data_dir: DataDir) -> dict[str, tuple[str | None, str | None]]:
    """Per ledger its payout account's (scheme, masked number) from the ledger list."""
    path = ledgers_path(data_dir)
    if not path.exists():
        return {}
    rows = objstore.read_table(path, schema=LEDGER_SCHEMA).to_pylist()
    return {r["ledger_id"]: (r["payout_account_scheme"], r["payout_account_masked"]) for r in rows}


def read_payouts(data_dir: DataDir) -> list[matching.Payout]:
    """Every payout in the stored funds reports, marked aborted when one came back."""
    root = as_dir(data_dir) / "reports" / "funds"
    if not root.exists():
        return []
    kinds = pa.array([*PAYOUT_TYPES, ABORTED_TYPE])
    table = objstore.dataset(root, format="parquet", schema=REPORT_SCHEMA).to_table(
        columns=["ledger_id", "ledger_date", "psp_reference", "entry_type", "amount", "currency"],
        filter=ds.field("entry_type").isin(kinds),
    )
    aborted = pc.equal(table["entry_type"], ABORTED_TYPE)
    returned = set(table.filter(aborted).column("psp_reference").to_pylist())
    accounts = _ledger_accounts(data_dir)
    out = []
    for r in table.filter(pc.invert(aborted)).to_pylist():
        scheme, masked = accounts.get(r["ledger_id"], (None, None))
        out.append(
            matching.Payout(
                r["ledger_id"],
                r["ledger_date"],
                r["psp_reference"] or f"{r['ledger_id']}-?",
                -int(r["amount"]),
                r["currency"],
                country_of(r["currency"], scheme),
                r["psp_reference"] in returned,
                masked,
            )
        )
    return out


def _payout_rows(decisions: list[matching.Decision]) -> pa.Table:
    rows = [
        {
            "ledger_id": d.payout.ledger_id,
            "ledger_date": d.payout.ledger_date,
            "psp_reference": d.payout.psp_reference,
            "amount": d.payout.amount,
            "currency": d.payout.currency,
            "status": d.status,
            "bank_booking_date": d.line.booking_date if d.line else None,
            "bank_amount": d.line.amount if d.line else None,
            "bank_text": d.line.text if d.line else None,
            "due_date": d.due,
            "matched_by": d.matched_by,
            "bank_line_id": d.line.line_id if d.line else None,
        }
        for d in decisions
    ]
    return pa.Table.from_pylist(rows, schema=PAYOUT_MATCH_SCHEMA)


def match_stored(data_dir: DataDir, grace_days: int, chart: Chart) -> Outcome:
    """Decide every payout and line again from the stored data and store the result."""
    with file_lock(bank_lock_path(data_dir)):
        stored = read_lines(data_dir)
        lines = [
            matching.Line(
                r["line_id"],
                r["booking_date"],
                r["amount"],
                r["currency"],
                r["text"],
                r["debtor_name"],
                r["account"],
                r["statement_to"],
                r["statement_from"],
            )
            for r in stored.to_pylist()
        ]
        decisions = matching.match(read_payouts(data_dir), lines, grace_days)
        statuses = matching.line_statuses(lines, decisions)
        ids = stored.column("line_id").to_pylist()
        with_status = stored.append_column(
            BANK_LINE_STATUS_SCHEMA.field("status"), pa.array([statuses[i][0] for i in ids])
        ).append_column(
            BANK_LINE_STATUS_SCHEMA.field("psp_reference"),
            pa.array([statuses[i][1] or None for i in ids], pa.string()),
        )
        write_table(payout_matches_path(data_dir), _payout_rows(decisions))
        write_table(bank_line_status_path(data_dir), with_status.cast(BANK_LINE_STATUS_SCHEMA))
        for ledger_id in sorted({d.payout.ledger_id for d in decisions}):
            mine = [d for d in decisions if d.payout.ledger_id == ledger_id]
            write_table(
                bank_journal_path(data_dir, ledger_id), bank_journal(ledger_id, mine, chart)
            )
    return Outcome(
        Counter(d.status for d in decisions),
        Counter(s for s, _ in statuses.values()),
        tuple(d for d in decisions if d.status in (matching.MISSING, matching.AMOUNT_DIFFERS)),
    )
