"""The one usage record: what each account did, per UTC day and metric (counts.py)."""

from engine.usage.counts import (
    API_CALLS_BULKAPIS,
    Count,
    daily,
    inbox_metric,
    record,
    social_metric,
    totals,
)

__all__ = ["API_CALLS_BULKAPIS", "Count", "daily", "inbox_metric", "record", "social_metric", "totals"]
