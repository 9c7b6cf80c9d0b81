"""The engine: inventory, planner, one ledger's work over dates, and its events."""
