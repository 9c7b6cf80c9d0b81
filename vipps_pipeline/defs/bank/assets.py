"""``payout_matches``: import what lies in the bank inbox, then decide every payout again."""

import shutil
from pathlib import Path

import dagster as dg

from vipps_pipeline.books.bank.run import match_stored
from vipps_pipeline.books.bank.store import import_files
from vipps_pipeline.defs.keys import JOURNAL_KEY
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.store.paths import bank_dir, bank_inbox
from vipps_pipeline.sync.engine import chart_for

PAYOUT_MATCHES_KEY = dg.AssetKey("payout_matches")


def inbox_files(data_dir: Path) -> list[Path]:
    """Statement files waiting in ``<data>/bank/inbox/`` (hidden and partial files skipped)."""
    inbox = Path(bank_inbox(data_dir))
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.startswith("."))


def _file_away(path: Path, data_dir: Path, failed: bool) -> None:
    """Move a file out of the inbox: ``imported/`` when read, ``refused/`` when not."""
    target = Path(bank_dir(data_dir)) / ("refused" if failed else "imported") / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, target)


@dg.asset(
    key=PAYOUT_MATCHES_KEY,
    group_name="bank",
    kinds={"python", "parquet"},
    deps=[JOURNAL_KEY],
    description="Bank statements dropped into `<data>/bank/inbox/` are imported (each line "
    "stored once), then every stored payout is matched to the bank line that shows it "
    "arrived: matched, amount_differs, in_transit, missing, not_covered or aborted "
    "(docs/bank.md). "
    "Queries: the `payouts` and `bank_lines` views.",
)
def payout_matches(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    settings = pipeline.settings()
    data_dir = Path(settings.data_dir)
    files = inbox_files(data_dir)
    for result in import_files(data_dir, files, settings.bank_csv_columns):
        (context.log.error if result.error else context.log.info)(result.line())
        _file_away(Path(result.path), data_dir, failed=bool(result.error))
    outcome = match_stored(data_dir, settings.payout_grace_days, chart_for(settings))
    return dg.MaterializeResult(
        metadata={
            "files_imported": len(files),
            **{f"payouts_{s}": n for s, n in sorted(outcome.payouts.items())},
            **{f"bank_lines_{s}": n for s, n in sorted(outcome.lines.items())},
        }
    )
