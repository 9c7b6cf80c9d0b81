"""The history as Delta Lake tables: what every reader of more than a few days reads.

The per-ledger-day Parquet files stay the record of what the API said (written once,
atomically, per day); opening one file per ledger-day is what made every question over years of
many ledgers slow. Here the same rows are kept in a few Delta tables under ``<data>/tables/``,
committed by the sync at the end of each month chunk, compacted and vacuumed on a schedule, and
read (with time travel) through their Arrow datasets. Nothing here imports Dagster.
"""
