"""Tests of the feed: today's entries before a date closes."""
