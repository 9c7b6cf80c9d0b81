"""Dagster wiring for the ledger-day datasets: assets, daily job, schedule."""
