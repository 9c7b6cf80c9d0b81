"""Tests of what people read: the HTML report and query."""
