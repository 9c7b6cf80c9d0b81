"""What the tests share: the pinned clock, Dagster instances and definitions, the CLI runner,
the simulator's ground truth. Test modules import from here, never from one another, so a test
module can move or go without breaking another."""
