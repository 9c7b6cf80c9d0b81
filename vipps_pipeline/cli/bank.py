"""``bank import``: read bank statements, store their lines once, and match every payout.

Prints one line per file (lines new, lines already stored, or what is wrong with it), then the
payouts per status and each one a person must look at. Exit status 1 when a file was refused
or a payout is missing or arrived with another amount.
"""

from __future__ import annotations

import argparse
import os


def cmd_bank_import(args: argparse.Namespace) -> int:
    from vipps_pipeline.books.bank.run import match_stored
    from vipps_pipeline.books.bank.store import import_files
    from vipps_pipeline.domain import minor_to_text
    from vipps_pipeline.settings import PipelineSettings
    from vipps_pipeline.sync.engine import chart_for

    env = dict(os.environ)
    if args.data_dir:
        env["VIPPS_DATA_DIR"] = args.data_dir
    settings = PipelineSettings.from_env(env)
    results = import_files(settings.data_dir, args.files, settings.bank_csv_columns)
    for r in results:
        print(r.line())
    outcome = match_stored(settings.data_dir, settings.payout_grace_days, chart_for(settings))
    counts = ", ".join(f"{n} {s}" for s, n in sorted(outcome.payouts.items())) or "none stored"
    lines = ", ".join(f"{n} {s}" for s, n in sorted(outcome.lines.items())) or "none"
    print(f"payouts: {counts}; bank lines: {lines}")
    for d in outcome.problems:
        shown = (
            f"the bank shows {minor_to_text(d.line.amount, d.payout.currency)} on "
            f"{d.line.booking_date}"
            if d.line
            else f"not in the bank by {d.due}"
        )
        print(
            f"  {d.status}: {d.payout.psp_reference} ({d.payout.ledger_date}) "
            f"{minor_to_text(d.payout.amount, d.payout.currency)} {d.payout.currency}, {shown}"
        )
    return 1 if any(r.error for r in results) or outcome.problems else 0
