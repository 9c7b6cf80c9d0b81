"""The feed: today's entries before a date closes, and their books."""
