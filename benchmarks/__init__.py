"""Benchmarks: each runs as `python -m benchmarks.<name>` and prints its figures.

Performance is measured here, never asserted in tests."""
