"""Tests of the Dagster instance plugins: the batching event log, PostgreSQL."""
