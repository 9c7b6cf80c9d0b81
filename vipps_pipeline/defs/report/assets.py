"""The ledger report: charts per ledger in the UI, and one static HTML page under <data>."""

import base64

import dagster as dg

from vipps_pipeline.defs.keys import JOURNAL_KEY, RECONCILIATION_KEY, STATEMENTS_KEY
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.outputs import html_report as report
from vipps_pipeline.sync.engine import chart_for

CHARTS_IN_METADATA = 10
"""Ledgers whose charts are embedded in the UI; the HTML report has every ledger."""


def _image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


@dg.asset(
    group_name="reports",
    kinds={"python", "html"},
    deps=[STATEMENTS_KEY, RECONCILIATION_KEY, JOURNAL_KEY],
    description="Per ledger: balances over time (funds and fees), daily payouts, the fee rate "
    "and a reconciliation calendar (date x check), as PNG in this asset's metadata and as one "
    "static HTML page, `<data>/report/index.html`, that opens without a server.",
)
def ledger_report(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    settings = pipeline.settings()
    index, pictures = report.write_report(settings.data_dir, chart=chart_for(settings))
    metadata: dict[str, object] = {
        "report": dg.MetadataValue.path(str(index.resolve())),
        "ledgers": len(pictures),
        "days_with_a_failed_check": sum(p.failed_days for p in pictures),
        "days_with_a_warning": sum(p.warned_days for p in pictures),
    }
    for p in pictures[:CHARTS_IN_METADATA]:
        metadata[f"ledger_{p.ledger_id}"] = dg.MetadataValue.md(
            f"**{p.days} days, {p.failed_days} with a failed check, {p.warned_days} with a "
            "warning**\n\n"
            + "\n\n".join(_image(p.pngs[c], f"{c} {p.ledger_id}") for c in report.CHARTS)
        )
    if len(pictures) > CHARTS_IN_METADATA:
        context.log.info(f"charts of {len(pictures)} ledgers in {index}; the UI shows ten")
    return dg.MaterializeResult(metadata=metadata)
