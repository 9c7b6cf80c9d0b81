"""The accountants' invariants, one registered function per check, grouped by family.

Importing this package registers every check (see :mod:`.base`); :data:`CHECKS` and
:data:`CHECK_GROUPS` are read from the registry, so the findings, the Dagster asset checks and
their descriptions always list the same checks.
"""

from __future__ import annotations

from vipps_pipeline.books.checks import balance, funds_fees, payouts
from vipps_pipeline.books.checks.base import REGISTRY, Check, CheckInputs

__all__ = ["CHECKS", "CHECK_GROUPS", "REGISTRY", "Check", "CheckInputs", "run_checks"]

GROUPS = (balance.BALANCE_GROUP, payouts.PAYOUTS_GROUP, funds_fees.FUNDS_FEES_GROUP)
"""The check families' groups, in the order they are shown."""

CHECK_GROUPS: dict[str, tuple[str, ...]] = {
    group: tuple(c.name for c in REGISTRY.values() if c.group == group) for group in GROUPS
}
"""How the fine-grained checks of the findings dataset are shown as Dagster asset checks."""

CHECKS: dict[str, str] = {
    name: REGISTRY[name].description for names in CHECK_GROUPS.values() for name in names
}
"""Every check's name and what it verifies, group by group."""


def run_checks(inputs: CheckInputs) -> list[dict]:
    """Every registered check's findings for ``inputs``, unsorted."""
    return [row for c in REGISTRY.values() for row in c.run(inputs)]
