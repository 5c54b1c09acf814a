"""The actions a platform connector performs: their names, parameter Structs and typed results.

Every action is one `Action` value, one parameter Struct (`PARAMS[action]`) and one result type, so a
durable job can be stored as `(action, msgspec.json.encode(params))` and replayed after a restart:

    params = msgspec.json.decode(row.params, type=PARAMS[row.action])
    result = await perform(connector, session, row.action, params)        # engine.social.connector

Identifiers are the platform's own, as strings: X's numeric ids, Bluesky's DIDs and at:// URIs.
Listing actions take a `cursor` (None: start) and return a `Page` whose `cursor` is passed back on the
next call; together they hand out every item exactly once (see `engine.social.cursors`).
This module holds data only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class Action(StrEnum):
    CREATE_POST = "post.create"
    DELETE_POST = "post.delete"
    REPLY = "post.reply"
    GET_POST = "post.get"
    LIST_POSTS = "post.list"  # the account's own posts, newest first
    LIKE = "post.like"
    UNLIKE = "post.unlike"
    HIDE_REPLY = "reply.hide"  # hide or unhide (HideReply.hidden)
    SEND_DM = "dm.send"  # to a user: opens the one-to-one conversation when there is none
    SEND_CONVERSATION_DM = "dm.send_conversation"
    LIST_DM_EVENTS = "dm.events"  # every conversation of the account
    LIST_CONVERSATION_MESSAGES = "dm.conversation_messages"
    LIST_MENTIONS = "mentions.list"
    LIST_REPLIES = "replies.list"  # replies (comments) under one post
    LOOKUP_USER = "user.lookup"  # by id or by username
    ME = "user.me"  # the connected account itself (health check, connect)


# ------------------------------------------------------------------------------------------ params


class CreatePost(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    media_ids: tuple[str, ...] = ()


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    in_reply_to: str
    """The post replied to (X tweet id, Bluesky at:// URI)."""
    text: str


class PostTarget(msgspec.Struct, frozen=True, kw_only=True):
    post_id: str


class HideReply(msgspec.Struct, frozen=True, kw_only=True):
    reply_id: str
    hidden: bool = True


class SendDm(msgspec.Struct, frozen=True, kw_only=True):
    recipient_id: str
    """The recipient's platform user id (X user id, Bluesky DID)."""
    text: str


class SendConversationDm(msgspec.Struct, frozen=True, kw_only=True):
    conversation_id: str
    text: str


class ListPage(msgspec.Struct, frozen=True, kw_only=True):
    cursor: str | None = None
    limit: int = 50


class ConversationPage(msgspec.Struct, frozen=True, kw_only=True):
    conversation_id: str
    cursor: str | None = None
    limit: int = 50


class RepliesPage(msgspec.Struct, frozen=True, kw_only=True):
    post_id: str
    cursor: str | None = None
    limit: int = 50


class UserLookup(msgspec.Struct, frozen=True, kw_only=True):
    """Exactly one of user_id, username."""

    user_id: str | None = None
    username: str | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.username is None):
            raise ValueError("give exactly one of user_id, username")


class NoParams(msgspec.Struct, frozen=True):
    pass


# ------------------------------------------------------------------------------------------ results


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    username: str
    display_name: str = ""


class PostMetrics(msgspec.Struct, frozen=True, kw_only=True):
    likes: int = 0
    replies: int = 0
    reposts: int = 0
    quotes: int = 0
    impressions: int | None = None  # only where the platform reports it (X, own posts)


class Post(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    text: str
    author_id: str
    author_username: str | None = None
    created_at: datetime | None = None
    conversation_id: str | None = None
    """The thread's root post (X conversation_id, Bluesky root URI)."""
    in_reply_to: str | None = None
    url: str | None = None
    metrics: PostMetrics | None = None


class PostRef(msgspec.Struct, frozen=True, kw_only=True):
    """What a create or reply returns: the new post's id, its text as stored, and a link to it."""

    id: str
    text: str
    url: str | None = None


class Done(msgspec.Struct, frozen=True, kw_only=True):
    """An action with nothing to return. `changed` is False when the state was already the one asked
    for (liking a liked post, deleting a post that is gone): the goal holds either way."""

    changed: bool = True


class DmRef(msgspec.Struct, frozen=True, kw_only=True):
    conversation_id: str
    message_id: str


class DmEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    conversation_id: str
    sender_id: str
    text: str
    created_at: datetime | None = None
    event_type: str = "message"  # message | participants_join | participants_leave


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    items: tuple[T, ...]
    cursor: str
    """Pass back on the next call; store it to resume after a restart."""
    more: bool = False
    """True when calling again at once returns more items (a sweep is under way)."""


PARAMS: dict[Action, type[msgspec.Struct]] = {
    Action.CREATE_POST: CreatePost,
    Action.DELETE_POST: PostTarget,
    Action.REPLY: Reply,
    Action.GET_POST: PostTarget,
    Action.LIST_POSTS: ListPage,
    Action.LIKE: PostTarget,
    Action.UNLIKE: PostTarget,
    Action.HIDE_REPLY: HideReply,
    Action.SEND_DM: SendDm,
    Action.SEND_CONVERSATION_DM: SendConversationDm,
    Action.LIST_DM_EVENTS: ListPage,
    Action.LIST_CONVERSATION_MESSAGES: ConversationPage,
    Action.LIST_MENTIONS: ListPage,
    Action.LIST_REPLIES: RepliesPage,
    Action.LOOKUP_USER: UserLookup,
    Action.ME: NoParams,
}
