"""vipps_pipeline: the Vipps MobilePay Report API as a reconciled Parquet history, on Dagster."""

__version__ = "0.1.0"
