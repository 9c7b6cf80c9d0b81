"""Dagster wiring only: partitions, resources, assets, checks, sensors and schedules.

Everything here is thin and calls into the plain-Python modules of the package; nothing in
those modules imports from here.

This code location knowingly uses two Dagster features marked preview or beta in 1.13
(partitioned asset checks, sensor owners set by Dagster itself); their warnings are silenced
here, where they are raised, instead of greeting every user of `dagster dev`.
"""

import warnings

from dagster import BetaWarning, PreviewWarning

warnings.filterwarnings("ignore", category=PreviewWarning)
warnings.filterwarnings("ignore", category=BetaWarning)
