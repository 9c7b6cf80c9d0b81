"""Tests of the sync engine: planning, the ledger walk, faults and months-long simulations."""
