"""Tests of the command line: inputs, the demo, dev."""
