"""Bring every ledger's tables in line with its landing files, whatever ran before.

The sync commits as it goes and repairs the ledgers it lists; this is for a data directory
whose tables were never written (a data directory from before the tables, or a copy of the
landing files alone) or after the tables were deleted to be rebuilt: ``vipps-pipeline tables
build``.
"""

from __future__ import annotations

from vipps_pipeline.lake import commit as lake
from vipps_pipeline.settings import LEDGER_ID_RE
from vipps_pipeline.store.objstore import DataDir, as_dir
from vipps_pipeline.store.paths import DAY_KINDS
from vipps_pipeline.sync import completeness


def stored_ledgers(data_dir: DataDir) -> list[str]:
    """Every ledger with a folder in any per-day dataset."""
    root, found = as_dir(data_dir), set()
    for kind in DAY_KINDS:
        folder = root / kind
        if folder.exists():
            found |= {p.name for p in folder.iterdir() if LEDGER_ID_RE.match(p.name)}
    return sorted(found)


def catch_up_stored(data_dir: DataDir) -> dict[str, dict[str, int]]:
    """Commit what the tables lack of every stored ledger; returns what was committed. Every
    object is listed, even on an object store, whatever the tables' record says."""
    files = {
        ledger_id: completeness.scan(data_dir, ledger_id, verify=True, indexed=False).files
        for ledger_id in stored_ledgers(data_dir)
    }
    return lake.catch_up_all(data_dir, files)
