"""Bank statements in, and every payout matched to the bank line that shows it arrived.

Reading statements (camt.053, CSV), storing their lines once, the banking calendar, the
matching rules and the bookings they lead to: plain Python without Dagster, like the rest of
the books, so the CLI, the sensor and the tests share one implementation.
"""
