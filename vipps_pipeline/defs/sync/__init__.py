"""Dagster wiring for the sync: its job, the freshness check and the sync sensor."""
