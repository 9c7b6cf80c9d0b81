"""A local, faithful stand-in for the Report API: the API has no test environment."""

from vipps_pipeline.simulator.faults import Faults
from vipps_pipeline.simulator.model import DEMO_CREDENTIALS, LEDGERS, LedgerSpec, World
from vipps_pipeline.simulator.server import Simulator

__all__ = ["DEMO_CREDENTIALS", "LEDGERS", "Faults", "LedgerSpec", "Simulator", "World"]
