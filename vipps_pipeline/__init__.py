"""vipps_pipeline: the Vipps MobilePay Report API as a reconciled Parquet history, on Dagster."""

from vipps_pipeline.store.memory import keep_memory_low

__version__ = "0.1.0"

keep_memory_low()  # before any module here loads Arrow: see store/memory.py
