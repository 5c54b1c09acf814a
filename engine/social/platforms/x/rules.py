"""X's per-account (and per-app) rate windows, as data the dispatch loop enforces.

Where seed 000 (BulkAPIs) publishes a per-account limit it is the number used (it is stricter than X's
or equal to it): DM send 180 / 15 min, DM read 100 / 15 min, DM events 15 / 15 min, post create
200 / 15 min. Every other number is X's published per-endpoint limit for user-context calls
(docs.x.com "X API rate limits" and each endpoint's reference page): posts create also 300 / 3 h per
user and 10,000 / 24 h per app, delete 50 / 15 min, likes 50 / 15 min and 1,000 / 24 h, hide replies
50 / 15 min, DM create 15,000 / 24 h per app, mentions and recent search 300 / 15 min, post and user
lookup 900 / 15 min, users/me 75 / 15 min.

`ENDPOINT_WINDOWS` is what the X simulator enforces, per endpoint as X does (not per action group):
X's own numbers, so a burst that respects RULES never sees a 429 from it.
This module holds data only.
"""

from __future__ import annotations

from engine.social.actions import Action
from engine.social.connector import RateRule

_SEED = "seed 000 rate limits table (per connected account)"
_X = "X API v2 published rate limits (docs.x.com/x-api/fundamentals/rate-limits)"
_15M = 15 * 60
_3H = 3 * 3600
_24H = 24 * 3600

RULES: tuple[RateRule, ...] = (
    RateRule(name="x.posts.create", actions=frozenset({Action.CREATE_POST, Action.REPLY}), limit=200,
             window_seconds=_15M, source=_SEED),
    RateRule(name="x.posts.create.3h", actions=frozenset({Action.CREATE_POST, Action.REPLY}), limit=300,
             window_seconds=_3H, source=_X + ": 300 per 3 hours per user, shared with reposts"),
    RateRule(name="x.posts.create.app", actions=frozenset({Action.CREATE_POST, Action.REPLY}), limit=10_000,
             window_seconds=_24H, scope="app", source=_X),
    RateRule(name="x.posts.delete", actions=frozenset({Action.DELETE_POST}), limit=50, window_seconds=_15M,
             source=_X),
    RateRule(name="x.likes.create", actions=frozenset({Action.LIKE}), limit=50, window_seconds=_15M,
             source=_X),
    RateRule(name="x.likes.delete", actions=frozenset({Action.UNLIKE}), limit=50, window_seconds=_15M,
             source=_X),
    RateRule(name="x.likes.day", actions=frozenset({Action.LIKE, Action.UNLIKE}), limit=1000,
             window_seconds=_24H, source=_X + ": 1,000 per 24 hours, likes and unlikes together"),
    RateRule(name="x.replies.hide", actions=frozenset({Action.HIDE_REPLY}), limit=50, window_seconds=_15M,
             source=_X),
    RateRule(name="x.dm.send", actions=frozenset({Action.SEND_DM, Action.SEND_CONVERSATION_DM}), limit=180,
             window_seconds=_15M, source=_SEED + " (X: 200 per endpoint)"),
    RateRule(name="x.dm.send.app", actions=frozenset({Action.SEND_DM, Action.SEND_CONVERSATION_DM}),
             limit=15_000, window_seconds=_24H, scope="app", source=_X),
    RateRule(name="x.dm.events", actions=frozenset({Action.LIST_DM_EVENTS}), limit=15, window_seconds=_15M,
             source=_SEED + " (X: 300 shared by the DM lookups)"),
    RateRule(name="x.dm.read", actions=frozenset({Action.LIST_CONVERSATION_MESSAGES}), limit=100,
             window_seconds=_15M, source=_SEED + " (X: 300 shared by the DM lookups)"),
    RateRule(name="x.mentions", actions=frozenset({Action.LIST_MENTIONS}), limit=300, window_seconds=_15M,
             source=_X),
    RateRule(name="x.search.recent", actions=frozenset({Action.LIST_REPLIES}), limit=300,
             window_seconds=_15M, source=_X),
    RateRule(name="x.timeline", actions=frozenset({Action.LIST_POSTS}), limit=900, window_seconds=_15M,
             source=_X),
    RateRule(name="x.posts.lookup", actions=frozenset({Action.GET_POST}), limit=900, window_seconds=_15M,
             source=_X),
    RateRule(name="x.users.lookup", actions=frozenset({Action.LOOKUP_USER}), limit=900, window_seconds=_15M,
             source=_X),
    RateRule(name="x.users.me", actions=frozenset({Action.ME}), limit=75, window_seconds=_15M, source=_X),
)  # fmt: skip

# (method, route) -> (requests, window seconds) per user, as X enforces them.
ENDPOINT_WINDOWS: dict[tuple[str, str], tuple[int, int]] = {
    ("POST", "/2/tweets"): (200, _15M),
    ("DELETE", "/2/tweets/{id}"): (50, _15M),
    ("GET", "/2/tweets/{id}"): (900, _15M),
    ("GET", "/2/tweets/search/recent"): (300, _15M),
    ("PUT", "/2/tweets/{id}/hidden"): (50, _15M),
    ("POST", "/2/users/{id}/likes"): (50, _15M),
    ("DELETE", "/2/users/{id}/likes/{tweet_id}"): (50, _15M),
    ("GET", "/2/users/{id}/mentions"): (300, _15M),
    ("GET", "/2/users/{id}/tweets"): (900, _15M),
    ("GET", "/2/users/me"): (75, _15M),
    ("GET", "/2/users/{id}"): (900, _15M),
    ("GET", "/2/users/by/username/{username}"): (900, _15M),
    ("POST", "/2/dm_conversations/with/{participant_id}/messages"): (200, _15M),
    ("POST", "/2/dm_conversations/{dm_conversation_id}/messages"): (200, _15M),
    ("GET", "/2/dm_events"): (300, _15M),
    ("GET", "/2/dm_conversations/{dm_conversation_id}/dm_events"): (300, _15M),
}
