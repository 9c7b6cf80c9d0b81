"""The asset keys, check names and pool the concerns share, so each is spelled once.

The unsharded keys: a shard prefixes them through :meth:`Shard.key`.
"""

import dagster as dg

from vipps_pipeline.settings import TOPICS

LEDGERS_KEY = dg.AssetKey("ledgers")
REPORT_ASSETS = {t: dg.AssetKey(f"{t}_report") for t in TOPICS}
STATEMENTS_KEY = dg.AssetKey("daily_statements")
JOURNAL_KEY = dg.AssetKey("journal")
JOURNAL_CHECK = "journal_balances"
RECONCILIATION_KEY = dg.AssetKey("reconciliation")
API_POOL = "vipps_api"
"""The concurrency pool of every step that calls the API (its limit is the instance's)."""
