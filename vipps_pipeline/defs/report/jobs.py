"""The report job: redraw the ledger report."""

import dagster as dg

from vipps_pipeline.defs.report.assets import ledger_report

ledger_report_job = dg.define_asset_job(
    "ledger_report_job", selection=[ledger_report], description="Draw the ledger report."
)
