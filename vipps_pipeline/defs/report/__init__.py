"""Dagster wiring for the ledger report: its asset, job and schedule."""
