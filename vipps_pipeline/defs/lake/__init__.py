"""Dagster wiring of the tables' upkeep: a nightly job that compacts and vacuums them."""
