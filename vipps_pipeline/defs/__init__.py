"""Dagster wiring only: partitions, resources, assets, checks, sensors and schedules.

Everything here is thin and calls into the plain-Python modules of the package; nothing in
those modules imports from here.
"""
