"""The bank job: import the inbox and match every payout."""

import dagster as dg

from vipps_pipeline.defs.bank.assets import payout_matches

bank_match_job = dg.define_asset_job(
    "bank_match_job",
    selection=[payout_matches],
    description="Import the bank statements in the inbox and match every payout.",
)
