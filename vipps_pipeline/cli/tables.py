"""``tables``: compact and vacuum the Delta tables, or build them from the landing files.

The schedule in ``defs/tables`` compacts every night; the command is for a deployment without
the daemon, and ``build`` for a data directory whose tables were never written (one from before
the tables) or that were deleted to be rebuilt.
"""

from __future__ import annotations

import argparse
import os

from vipps_pipeline.cli.inputs import data_dir_arg


def cmd_tables(args: argparse.Namespace) -> int:
    from vipps_pipeline.settings import PipelineSettings

    data_dir = data_dir_arg(args)
    if args.action == "build":
        from vipps_pipeline.sync.tables import catch_up_stored

        done = catch_up_stored(data_dir)
        days = sum(n for counts in done.values() for n in counts.values())
        print(f"{len(done)} ledger(s) brought in line with the landing files ({days} day(s))")
        return 0
    from vipps_pipeline.lake.upkeep import compact_all

    retention = PipelineSettings.from_env(os.environ).table_retention_days
    for u in compact_all(data_dir, retention):
        print(
            f"{u.table}: {u.files_before} file(s) -> {u.files_after}; vacuum removed "
            f"{u.removed} (kept {retention} day(s) of history); version {u.version}"
        )
    return 0
