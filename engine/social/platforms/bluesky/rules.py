"""Bluesky's published rate limits, as data the dispatch loop enforces (docs.bsky.app "Rate Limits").

Repository writes are counted in points per account (DID): a create costs 3, an update 2, a delete 1;
5,000 points per hour and 35,000 per day. So RULES gives each write action its cost (a reply or like
creates a record, an unlike deletes one, hiding a reply updates the thread gate: a read, then a put).
Reads and chat calls fall under the PDS's per-IP limit of 3,000 requests per 5 minutes, which is
app-wide here (one deployment, one address). Bluesky publishes no separate per-account chat limit.

`WRITE_COSTS` / `WINDOWS` are what the Bluesky simulator enforces.
This module holds data only.
"""

from __future__ import annotations

from engine.social.actions import Action
from engine.social.connector import RateRule

_SOURCE = "Bluesky PDS rate limits (docs.bsky.app/docs/advanced-guides/rate-limits)"
_WRITES = frozenset({Action.CREATE_POST, Action.REPLY, Action.DELETE_POST, Action.LIKE, Action.UNLIKE,
                     Action.HIDE_REPLY})  # fmt: skip
COSTS = {Action.CREATE_POST: 3, Action.REPLY: 3, Action.LIKE: 3, Action.DELETE_POST: 1, Action.UNLIKE: 1,
         Action.HIDE_REPLY: 2}  # fmt: skip

RULES: tuple[RateRule, ...] = (
    RateRule(name="bluesky.writes.hour", actions=_WRITES, limit=5000, window_seconds=3600, costs=COSTS,
             source=_SOURCE + ": 5,000 points per hour per account"),
    RateRule(name="bluesky.writes.day", actions=_WRITES, limit=35_000, window_seconds=86_400, costs=COSTS,
             source=_SOURCE + ": 35,000 points per day per account"),
    RateRule(name="bluesky.requests", actions=frozenset(Action), limit=3000, window_seconds=300, scope="app",
             source=_SOURCE + ": 3,000 requests per 5 minutes per IP"),
)  # fmt: skip

WRITE_COSTS = {"create": 3, "update": 2, "delete": 1}
WINDOWS = {
    "writes.hour": (5000, 3600),
    "writes.day": (35_000, 86_400),
    "requests": (3000, 300),
    "sessions": (30, 300),  # com.atproto.server.createSession: 30 per 5 minutes per account
}
