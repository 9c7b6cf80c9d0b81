"""Tests of the Dagster wiring: assets, checks, backfills, partition status, run config, the UI."""
