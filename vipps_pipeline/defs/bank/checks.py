"""``payouts_arrived``: fails while a payout is missing or arrived with another amount."""

from pathlib import Path

import dagster as dg

from vipps_pipeline.defs.bank.assets import PAYOUT_MATCHES_KEY
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.domain import minor_to_text
from vipps_pipeline.store import objstore
from vipps_pipeline.store.paths import payout_matches_path
from vipps_pipeline.store.schemas import PAYOUT_MATCH_SCHEMA

SHOWN = 50
"""Problems listed in the check's metadata; the `payouts` view has all of them."""


def _problem(r: dict) -> str:
    cur = r["currency"]
    bank = (
        f"the bank shows {minor_to_text(r['bank_amount'], cur)} on {r['bank_booking_date']}"
        if r["bank_amount"] is not None
        else f"not in the bank by {r['due_date']}"
    )
    return (
        f"{r['status']}: ledger {r['ledger_id']} {r['ledger_date']} payout "
        f"{r['psp_reference']} {minor_to_text(r['amount'], cur)} {cur}, {bank}"
    )


@dg.asset_check(
    asset=PAYOUT_MATCHES_KEY,
    description="Every payout that is due has arrived in the bank with its amount: a "
    "`missing` or `amount_differs` payout fails it, named with its amount and what the bank "
    "showed. `in_transit`, `not_covered` (the statements miss days it could have arrived on) "
    "and `aborted` pass.",
)
def payouts_arrived(pipeline: PipelineResource) -> dg.AssetCheckResult:
    path = payout_matches_path(Path(pipeline.settings().data_dir))
    rows = (
        objstore.read_table(path, schema=PAYOUT_MATCH_SCHEMA).to_pylist() if path.exists() else []
    )
    bad = [r for r in rows if r["status"] in ("missing", "amount_differs")]
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "payouts": len(rows),
            "problems": len(bad),
            "detail": dg.MetadataValue.md("\n".join(f"- {_problem(r)}" for r in bad[:SHOWN])),
        },
    )
