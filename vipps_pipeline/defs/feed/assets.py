"""The feed's assets: provisional entries per ledger, today so far, and the comparison of
the feed with each closed day's report.

They are declared, not computed by Dagster: only the `vipps_feed` job's op writes them (see
:mod:`.jobs`), and it reports a materialization exactly when it changed a dataset, so the UI
never shows a partition as stored that is not.
"""

import dagster as dg

from vipps_pipeline.defs.keys import REPORT_ASSETS
from vipps_pipeline.defs.partitions import ledger_day_partitions, ledger_partitions
from vipps_pipeline.settings import TOPICS

FEED_ASSETS = {t: dg.AssetKey(f"{t}_feed") for t in TOPICS}
TODAY_KEY = dg.AssetKey("today_so_far")
FEED_RECONCILIATION = dg.AssetKey("feed_reconciliation")


def _feed_spec(key: dg.AssetKey, partitions, deps, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        deps=deps,
        partitions_def=partitions,
        group_name="feed",
        kinds={"python", "parquet"},
        description=description,
    )


FEED_SPECS = [
    *(
        _feed_spec(
            FEED_ASSETS[t],
            ledger_partitions,
            [],  # not the ledger list: its daily refresh would mark every ledger "Unsynced"
            f"Provisional `{t}` entries from the feed, per ledger, stored as they arrive in "
            f"`<data>/feed/{t}/<ledger>/<yyyy>/<date>.parquet` (the report columns plus "
            "`feed_position` and `stored_at`). Written by the `vipps_feed` job; a closed "
            "date's rows are pruned once they match its report (VIPPS_FEED_PRUNE).",
        )
        for t in TOPICS
    ),
    _feed_spec(
        TODAY_KEY,
        ledger_partitions,
        list(FEED_ASSETS.values()),
        "Today so far: per ledger, topic and open date (entries from the feed, no by-date "
        "report yet) the entries, sums by entry type and the running balance, in "
        "`<data>/today/<ledger>.parquet`. Provisional: the report of the closed date is final.",
    ),
    _feed_spec(
        FEED_RECONCILIATION,
        ledger_day_partitions,
        [*FEED_ASSETS.values(), *REPORT_ASSETS.values()],
        "The feed against the closed day: per ledger-day and topic, whether the feed's entries "
        "equal the by-date report's (same entries, order and balances), in "
        "`<data>/feed_checks/<ledger>/<yyyy>/<date>.parquet`; shown as the "
        "`feed_matches_report` check.",
    ),
]
