"""Dagster wiring for the feed: assets, comparison check, job and sensor."""
