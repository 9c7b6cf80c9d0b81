"""Dagster wiring for the ledger report."""
