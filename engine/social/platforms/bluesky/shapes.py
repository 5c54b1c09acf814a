"""The Bluesky XRPC JSON the connector reads and the simulator writes, as msgspec Structs.

Field names are the lexicons' (github.com/bluesky-social/atproto lexicons/): app.bsky.feed.defs
#postView, app.bsky.notification.listNotifications, chat.bsky.convo.defs#messageView and #logCreateMessage,
app.bsky.actor.defs#profileViewDetailed. Unknown fields are ignored. Errors are {"error", "message"}.
This module holds data only.
"""

from __future__ import annotations

from typing import Any

import msgspec

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
THREADGATE = "app.bsky.feed.threadgate"


class StrongRef(msgspec.Struct, frozen=True):
    uri: str
    cid: str


class ReplyRef(msgspec.Struct, frozen=True):
    root: StrongRef
    parent: StrongRef


class PostRecord(msgspec.Struct, frozen=True):
    text: str = ""
    createdAt: str = ""
    reply: ReplyRef | None = None


class Author(msgspec.Struct, frozen=True):
    did: str
    handle: str
    displayName: str = ""


class Viewer(msgspec.Struct, frozen=True):
    like: str | None = None


class PostView(msgspec.Struct, frozen=True):
    uri: str
    cid: str
    author: Author
    record: PostRecord
    indexedAt: str = ""
    replyCount: int = 0
    repostCount: int = 0
    likeCount: int = 0
    quoteCount: int = 0
    viewer: Viewer = msgspec.field(default_factory=Viewer)


class Posts(msgspec.Struct, frozen=True):
    posts: list[PostView]


class FeedItem(msgspec.Struct, frozen=True):
    post: PostView
    reason: dict[str, Any] | None = None  # a repost in the author's feed


class AuthorFeed(msgspec.Struct, frozen=True):
    feed: list[FeedItem]
    cursor: str | None = None


class ThreadNode(msgspec.Struct, frozen=True):
    post: PostView | None = None
    replies: list[ThreadNode] = []


class Thread(msgspec.Struct, frozen=True):
    thread: ThreadNode


class Notification(msgspec.Struct, frozen=True):
    uri: str
    cid: str
    author: Author
    reason: str
    record: PostRecord
    indexedAt: str
    isRead: bool = False


class Notifications(msgspec.Struct, frozen=True):
    notifications: list[Notification]
    cursor: str | None = None


class Created(msgspec.Struct, frozen=True):
    uri: str
    cid: str


class Profile(msgspec.Struct, frozen=True):
    did: str
    handle: str
    displayName: str = ""


class Sender(msgspec.Struct, frozen=True):
    did: str


class MessageView(msgspec.Struct, frozen=True):
    id: str
    rev: str
    sender: Sender
    text: str = ""
    sentAt: str = ""


class Convo(msgspec.Struct, frozen=True):
    id: str
    rev: str = ""


class ConvoAnswer(msgspec.Struct, frozen=True):
    convo: Convo


class Messages(msgspec.Struct, frozen=True):
    messages: list[MessageView]
    cursor: str | None = None


class LogEntry(msgspec.Struct, frozen=True):
    rev: str
    convoId: str
    message: MessageView | None = None
    type_: str = msgspec.field(default="", name="$type")


class Log(msgspec.Struct, frozen=True):
    logs: list[LogEntry]
    cursor: str | None = None


class Record(msgspec.Struct, frozen=True):
    uri: str
    value: dict[str, Any]
    cid: str | None = None
