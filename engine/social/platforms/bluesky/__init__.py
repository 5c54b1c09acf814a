"""Bluesky over the AT Protocol's XRPC: connector, session auth (app passwords), rate windows."""
