"""Sender IDs: which sources an account may send from, checked at accept time (directory), and the
request -> approval flow that grows that list (registry)."""
