"""The feed in Dagster: its assets, the comparison check, the `vipps_feed` job and its sensor."""
