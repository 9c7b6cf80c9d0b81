"""Dagster instance plugins named in dagster.yaml, and the private event API the definitions
need (:mod:`.events`): the only users of dagster._."""
