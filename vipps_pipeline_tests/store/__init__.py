"""Tests of storage: Parquet writes, object storage, healing damaged files."""
