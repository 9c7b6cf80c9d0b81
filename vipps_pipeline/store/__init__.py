"""Where data lives: paths, Arrow schemas, atomic writers, object storage, state."""
