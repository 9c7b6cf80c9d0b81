"""Tests of the local Report API simulator."""
