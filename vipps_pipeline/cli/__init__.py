"""vipps-pipeline, the command line."""
