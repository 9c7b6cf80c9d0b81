"""Dagster wiring only: partitions, resources, assets, checks, sensors and schedules.

Everything here is thin and calls into the plain-Python modules of the package; nothing in
those modules imports from here.

This code location knowingly uses two Dagster features marked preview or beta in 1.13
(partitioned asset checks, sensor owners set by Dagster itself); their warnings are silenced
here, where they are raised, instead of greeting every user of `dagster dev`.

It also turns on two of Dagster's own bookkeeping switches (unless the environment sets them):
materializations are stored in batches (``DAGSTER_EVENT_BATCH_SIZE``; one statement per batch on
PostgreSQL) and a ranged run plans its partitions in one event per asset instead of one per
partition (``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS``). The second matters in the
process that creates runs: the CLI here, and the webserver and daemon through `vipps-pipeline
dev` or the deployment's environment (deploy/). See docs/operations.md.
"""

import os
import warnings

from dagster import BetaWarning, PreviewWarning

warnings.filterwarnings("ignore", category=PreviewWarning)
warnings.filterwarnings("ignore", category=BetaWarning)

BOOKKEEPING_ENV = {
    "DAGSTER_EVENT_BATCH_SIZE": "1000",
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
}
"""Dagster's switches for fewer event-log writes per ledger-day (docs/operations.md)."""
for _name, _value in BOOKKEEPING_ENV.items():
    os.environ.setdefault(_name, _value)
