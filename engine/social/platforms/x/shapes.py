"""The X API v2 JSON the connector reads and the simulator writes, as msgspec Structs.

Shapes follow the X API v2 reference (docs.x.com/x-api): successful answers carry `data` (an object or
a list), `includes` (expanded objects: users) and `meta` (result_count, newest_id, oldest_id,
next_token); lookups of ids that do not exist answer 200 with `errors` and no `data`; refusals answer a
problem object `{"title", "detail", "type", "status"}` (with `errors: [{"message", "parameters"}]` for
invalid requests). Unknown fields are ignored, so new fields X adds never break decoding.
This module holds data only.
"""

from __future__ import annotations

import msgspec

TWEET_FIELDS = "author_id,created_at,conversation_id,public_metrics,referenced_tweets,in_reply_to_user_id"
DM_EVENT_FIELDS = "id,text,event_type,dm_conversation_id,created_at,sender_id"
USER_FIELDS = "username,name"

PROBLEM_NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
PROBLEM_INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"


class XUser(msgspec.Struct, frozen=True):
    id: str
    username: str
    name: str = ""


class PublicMetrics(msgspec.Struct, frozen=True):
    retweet_count: int = 0
    reply_count: int = 0
    like_count: int = 0
    quote_count: int = 0
    impression_count: int | None = None


class ReferencedTweet(msgspec.Struct, frozen=True):
    type: str  # replied_to | quoted | retweeted
    id: str


class XTweet(msgspec.Struct, frozen=True):
    id: str
    text: str
    author_id: str | None = None
    created_at: str | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    referenced_tweets: list[ReferencedTweet] | None = None
    public_metrics: PublicMetrics | None = None


class XDmEvent(msgspec.Struct, frozen=True):
    id: str
    event_type: str
    text: str | None = None
    sender_id: str | None = None
    dm_conversation_id: str | None = None
    created_at: str | None = None


class Includes(msgspec.Struct, frozen=True):
    users: list[XUser] = []
    tweets: list[XTweet] = []


class Meta(msgspec.Struct, frozen=True):
    result_count: int = 0
    newest_id: str | None = None
    oldest_id: str | None = None
    next_token: str | None = None
    previous_token: str | None = None


class LookupError_(msgspec.Struct, frozen=True):
    """One entry of `errors` in a 200 answer (a partial error, e.g. an id that does not exist)."""

    title: str = ""
    detail: str = ""
    type: str = ""
    value: str | None = None
    resource_type: str | None = None


class TweetAnswer(msgspec.Struct, frozen=True):
    data: XTweet | None = None
    includes: Includes = msgspec.field(default_factory=Includes)
    errors: list[LookupError_] = []


class TweetsAnswer(msgspec.Struct, frozen=True):
    data: list[XTweet] = []
    includes: Includes = msgspec.field(default_factory=Includes)
    meta: Meta = msgspec.field(default_factory=Meta)
    errors: list[LookupError_] = []


class UserAnswer(msgspec.Struct, frozen=True):
    data: XUser | None = None
    errors: list[LookupError_] = []


class DmEventsAnswer(msgspec.Struct, frozen=True):
    data: list[XDmEvent] = []
    meta: Meta = msgspec.field(default_factory=Meta)


class CreatedTweet(msgspec.Struct, frozen=True):
    id: str
    text: str


class CreatedTweetAnswer(msgspec.Struct, frozen=True):
    data: CreatedTweet


class CreatedDm(msgspec.Struct, frozen=True):
    dm_conversation_id: str
    dm_event_id: str


class CreatedDmAnswer(msgspec.Struct, frozen=True):
    data: CreatedDm


class Deleted(msgspec.Struct, frozen=True):
    deleted: bool


class DeletedAnswer(msgspec.Struct, frozen=True):
    data: Deleted


class Liked(msgspec.Struct, frozen=True):
    liked: bool


class LikedAnswer(msgspec.Struct, frozen=True):
    data: Liked


class Hidden(msgspec.Struct, frozen=True):
    hidden: bool


class HiddenAnswer(msgspec.Struct, frozen=True):
    data: Hidden
