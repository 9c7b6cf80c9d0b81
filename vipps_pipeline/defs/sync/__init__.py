"""Dagster wiring for the sync: job, freshness check and sensors."""
