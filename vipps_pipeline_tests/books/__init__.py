"""Tests of the books: reconciliation checks, the journal, property tests over random days."""
