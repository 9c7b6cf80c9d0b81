"""``python -m vipps_pipeline.settings``: print the docs' settings table (docs/configuration.md)."""

from vipps_pipeline.settings import settings_table

print(settings_table(), end="")
