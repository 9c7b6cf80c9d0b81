"""Alerts: tell a person, in plain words, when the books need one, and stay silent otherwise.

Problems are read from what is stored (failing findings, ledger freshness) and from how the
last runs ended; each is announced once when it starts and once when it clears, to a webhook
and/or by e-mail, with a durable record of what was sent shared by the Dagster sensor and the
command line. No Dagster here: the drivers in ``defs/alerts`` and ``cli`` call :func:`alert_pass`.
"""
