"""The unified social inbox: inbound DMs, comments and mentions of connected accounts (poller.py)."""
