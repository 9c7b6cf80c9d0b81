"""Dagster wiring of the bank statements: the inbox sensor, ``payout_matches`` and its check."""
