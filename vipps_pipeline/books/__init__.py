"""The accountants' side: statements, reconciliation checks and the journal."""
