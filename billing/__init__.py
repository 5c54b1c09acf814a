"""The prepaid micro-unit double-entry ledger."""
