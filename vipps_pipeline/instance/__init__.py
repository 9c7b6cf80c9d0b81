"""Dagster instance plugins named in dagster.yaml: the only users of dagster._."""
