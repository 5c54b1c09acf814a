"""Direct X calls made at once for a caller (the Xquik surface's lookups and writes), beside XConnector.

    direct = XDirect(layer.x)                               # the connector's one HTTP client
    found = await direct.tweets(session, ["123"])            # GET /2/tweets?ids= (fields, expansions)
    page = await direct.user_tweets(session, user_id, limit=20, token=None)

| method              | X API                                                                        |
|---------------------|------------------------------------------------------------------------------|
| tweet, tweets       | GET /2/tweets/:id, /2/tweets?ids= (metrics, media, article, note_tweet, author) |
| search              | GET /2/tweets/search/recent?query= (10-100, next_token)                     |
| user_by_username    | GET /2/users/by/username/:username (public_metrics, description, verified, ...) |
| following, followers| GET /2/users/:id/following, /followers (1-1000, pagination_token)           |
| user_tweets         | GET /2/users/:id/tweets (5-100)                                              |
| liked_tweets        | GET /2/users/:id/liked_tweets (5-100)                                        |
| liking_users        | GET /2/tweets/:id/liking_users (1-100)                                       |
| bookmarks, folders  | GET /2/users/:me/bookmarks (1-100), /2/users/:me/bookmarks/folders          |
| home_timeline       | GET /2/users/:me/timelines/reverse_chronological (1-100)                    |
| mentions            | GET /2/users/:me/mentions (5-100)                                            |
| dm_history          | GET /2/dm_conversations/with/:participant_id/dm_events (1-100)              |
| create_tweet        | POST /2/tweets {text, reply, media, community_id} (X decides long text by account) |
| retweet             | POST /2/users/:me/retweets {tweet_id}                                        |
| send_dm (media)     | POST /2/dm_conversations/with/:id/messages {text, attachments: [{media_id}]} |
| follow / unfollow   | POST /2/users/:me/following {target_user_id} / DELETE .../following/:target |
| upload_media        | POST /2/media/upload (multipart `media`, `media_category`)                   |
| update_profile      | POST /1.1/account/update_profile.json (form: name, description, location, url) |
| update_avatar       | POST /1.1/account/update_profile_image.json (multipart `image`)            |
| update_banner       | POST /1.1/account/update_profile_banner.json (multipart `banner`)          |

The v1.1 account endpoints are the only X endpoints that change a profile; X takes OAuth 1.0a user
context there, and this module sends the account's OAuth 2.0 bearer (what the engine holds): a
deployment against the real X needs OAuth 1.0a keys for these three before they work.
Errors are the connector's (engine.social.errors): a lookup of an unknown id is Permanent("not_found").
This module must never store anything or enforce rate limits.
"""

from __future__ import annotations

import msgspec

from engine.social.connector import AccountSession
from engine.social.errors import Permanent
from engine.social.platforms.x.connector import PLATFORM, XConnector
from engine.social.platforms.x.shapes import CreatedDmAnswer, LookupError_, Meta

TWEET_FIELDS = (
    "author_id,created_at,conversation_id,public_metrics,referenced_tweets,in_reply_to_user_id,"
    "attachments,article,note_tweet,community_id"
)
USER_FIELDS = "created_at,description,location,profile_image_url,public_metrics,url,verified,protected"
MEDIA_FIELDS = "url,preview_image_url,type,width,height,variants"
EXPANSIONS = "author_id,attachments.media_keys"


class UserMetrics(msgspec.Struct, frozen=True):
    followers_count: int = 0
    following_count: int = 0
    tweet_count: int = 0
    listed_count: int = 0
    like_count: int = 0


class User(msgspec.Struct, frozen=True):
    id: str
    username: str
    name: str = ""
    description: str | None = None
    location: str | None = None
    url: str | None = None
    verified: bool | None = None
    profile_image_url: str | None = None
    created_at: str | None = None
    public_metrics: UserMetrics | None = None


class Metrics(msgspec.Struct, frozen=True):
    retweet_count: int = 0
    reply_count: int = 0
    like_count: int = 0
    quote_count: int = 0
    bookmark_count: int = 0
    impression_count: int = 0


class Attachments(msgspec.Struct, frozen=True):
    media_keys: list[str] = []


class Article(msgspec.Struct, frozen=True):
    title: str = ""
    plain_text: str = ""
    preview_text: str = ""
    cover_media: str | None = None
    media_entities: list[str] = []


class NoteTweet(msgspec.Struct, frozen=True):
    text: str


class Reference(msgspec.Struct, frozen=True):
    type: str
    id: str


class Tweet(msgspec.Struct, frozen=True):
    id: str
    text: str
    author_id: str | None = None
    created_at: str | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    referenced_tweets: list[Reference] | None = None
    public_metrics: Metrics | None = None
    attachments: Attachments | None = None
    article: Article | None = None
    note_tweet: NoteTweet | None = None
    community_id: str | None = None

    @property
    def full_text(self) -> str:
        return self.note_tweet.text if self.note_tweet is not None else self.text


class Variant(msgspec.Struct, frozen=True):
    url: str
    content_type: str = ""
    bit_rate: int | None = None


class Media(msgspec.Struct, frozen=True):
    media_key: str
    type: str
    url: str | None = None
    preview_image_url: str | None = None
    variants: list[Variant] = []
    width: int | None = None
    height: int | None = None


class Includes(msgspec.Struct, frozen=True):
    users: list[User] = []
    media: list[Media] = []


class TweetsAnswer(msgspec.Struct, frozen=True):
    data: list[Tweet] = []
    includes: Includes = msgspec.field(default_factory=Includes)
    meta: Meta = msgspec.field(default_factory=Meta)
    errors: list[LookupError_] = []


class TweetAnswer(msgspec.Struct, frozen=True):
    data: Tweet | None = None
    includes: Includes = msgspec.field(default_factory=Includes)
    errors: list[LookupError_] = []


class UsersAnswer(msgspec.Struct, frozen=True):
    data: list[User] = []
    meta: Meta = msgspec.field(default_factory=Meta)


class UserAnswer(msgspec.Struct, frozen=True):
    data: User | None = None
    errors: list[LookupError_] = []


class Folder(msgspec.Struct, frozen=True):
    id: str
    name: str


class FoldersAnswer(msgspec.Struct, frozen=True):
    data: list[Folder] = []
    meta: Meta = msgspec.field(default_factory=Meta)


class DmEvent(msgspec.Struct, frozen=True):
    id: str
    event_type: str
    text: str | None = None
    sender_id: str | None = None
    dm_conversation_id: str | None = None
    created_at: str | None = None


class DmEventsAnswer(msgspec.Struct, frozen=True):
    data: list[DmEvent] = []
    meta: Meta = msgspec.field(default_factory=Meta)


class Created(msgspec.Struct, frozen=True):
    id: str
    text: str = ""


class CreatedAnswer(msgspec.Struct, frozen=True):
    data: Created


class Flag(msgspec.Struct, frozen=True):
    retweeted: bool | None = None
    following: bool | None = None
    pending_follow: bool | None = None


class FlagAnswer(msgspec.Struct, frozen=True):
    data: Flag


class Upload(msgspec.Struct, frozen=True):
    id: str
    media_key: str = ""
    size: int | None = None
    expires_after_secs: int | None = None


class UploadAnswer(msgspec.Struct, frozen=True):
    data: Upload


class V1User(msgspec.Struct, frozen=True):
    id_str: str
    screen_name: str
    name: str = ""
    description: str | None = None
    location: str | None = None
    url: str | None = None
    profile_image_url_https: str | None = None


class Page(msgspec.Struct, frozen=True):
    """One page of posts with what they expand to: authors and media by their keys."""

    tweets: list[Tweet]
    users: dict[str, User]
    media: dict[str, Media]
    next_token: str | None


def _page(answer: TweetsAnswer) -> Page:
    return Page(
        tweets=list(answer.data),
        users={u.id: u for u in answer.includes.users},
        media={m.media_key: m for m in answer.includes.media},
        next_token=answer.meta.next_token,
    )


def _bounded(limit: int, low: int, high: int) -> int:
    return max(low, min(high, limit))


def _not_found(what: str, errors: list[LookupError_]) -> Permanent:
    detail = errors[0].detail if errors else f"{what} not found"
    return Permanent("not_found", detail, platform=PLATFORM, status=200, detail=detail)


class XDirect:
    """The calls above over the X connector's HTTP client (its auth refresh and error classification)."""

    def __init__(self, connector: XConnector) -> None:
        self.http = connector.http

    # ------------------------------------------------------------------------------- posts

    async def _posts(
        self, session: AccountSession, path: str, limit: int, token: str | None,
        bounds: tuple[int, int], extra: dict[str, str] | None = None, token_param: str = "pagination_token",
    ) -> Page:  # fmt: skip
        params = {
            **(extra or {}),
            "max_results": str(_bounded(limit, *bounds)),
            "tweet.fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user.fields": USER_FIELDS,
            "media.fields": MEDIA_FIELDS,
        }
        if token:
            params[token_param] = token
        response = await self.http.call("GET", path, session.tokens, params=params)
        return _page(self.http.decode(response, TweetsAnswer))

    async def tweets(self, session: AccountSession, ids: list[str]) -> Page:
        """Posts by id (at most 100); ids X does not know are left out of the page."""
        params = {
            "ids": ",".join(ids), "tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS,
            "user.fields": USER_FIELDS, "media.fields": MEDIA_FIELDS,
        }  # fmt: skip
        response = await self.http.call("GET", "/2/tweets", session.tokens, params=params)
        return _page(self.http.decode(response, TweetsAnswer))

    async def tweet(self, session: AccountSession, tweet_id: str) -> Page:
        """One post: GET /2/tweets/:id (Permanent not_found when X does not know it)."""
        params = {
            "tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS, "user.fields": USER_FIELDS,
            "media.fields": MEDIA_FIELDS,
        }  # fmt: skip
        response = await self.http.call("GET", f"/2/tweets/{tweet_id}", session.tokens, params=params)
        answer = self.http.decode(response, TweetAnswer)
        if answer.data is None:
            raise _not_found("tweet", answer.errors)
        return _page(TweetsAnswer(data=[answer.data], includes=answer.includes))

    async def search(self, session: AccountSession, query: str, limit: int, token: str | None) -> Page:
        return await self._posts(
            session, "/2/tweets/search/recent", limit, token, (10, 100), {"query": query}, "next_token"
        )

    async def user_tweets(self, session: AccountSession, user_id: str, limit: int, token: str | None) -> Page:
        return await self._posts(session, f"/2/users/{user_id}/tweets", limit, token, (5, 100))

    async def liked_tweets(
        self, session: AccountSession, user_id: str, limit: int, token: str | None
    ) -> Page:
        return await self._posts(session, f"/2/users/{user_id}/liked_tweets", limit, token, (5, 100))

    async def bookmarks(self, session: AccountSession, limit: int, token: str | None) -> Page:
        me = session.account.platform_user_id
        return await self._posts(session, f"/2/users/{me}/bookmarks", limit, token, (1, 100))

    async def home_timeline(self, session: AccountSession, limit: int, token: str | None) -> Page:
        me = session.account.platform_user_id
        path = f"/2/users/{me}/timelines/reverse_chronological"
        return await self._posts(session, path, limit, token, (1, 100))

    async def mentions(self, session: AccountSession, limit: int, token: str | None) -> Page:
        me = session.account.platform_user_id
        return await self._posts(session, f"/2/users/{me}/mentions", limit, token, (5, 100))

    # ------------------------------------------------------------------------------- users

    async def user_by_username(self, session: AccountSession, username: str) -> User:
        response = await self.http.call(
            "GET", f"/2/users/by/username/{username}", session.tokens, params={"user.fields": USER_FIELDS}
        )
        answer = self.http.decode(response, UserAnswer)
        if answer.data is None:
            raise _not_found("user", answer.errors)
        return answer.data

    async def _users(
        self, session: AccountSession, path: str, limit: int, token: str | None, bounds: tuple[int, int]
    ) -> tuple[list[User], str | None]:
        params = {"max_results": str(_bounded(limit, *bounds)), "user.fields": USER_FIELDS}
        if token:
            params["pagination_token"] = token
        response = await self.http.call("GET", path, session.tokens, params=params)
        answer = self.http.decode(response, UsersAnswer)
        return list(answer.data), answer.meta.next_token

    async def following(
        self, session: AccountSession, user_id: str, limit: int, token: str | None
    ) -> tuple[list[User], str | None]:
        return await self._users(session, f"/2/users/{user_id}/following", limit, token, (1, 1000))

    async def followers(
        self, session: AccountSession, user_id: str, limit: int, token: str | None
    ) -> tuple[list[User], str | None]:
        return await self._users(session, f"/2/users/{user_id}/followers", limit, token, (1, 1000))

    async def liking_users(
        self, session: AccountSession, tweet_id: str, limit: int, token: str | None
    ) -> tuple[list[User], str | None]:
        return await self._users(session, f"/2/tweets/{tweet_id}/liking_users", limit, token, (1, 100))

    async def follows(self, session: AccountSession, source_id: str, target_id: str, pages: int = 5) -> bool:
        """Whether `source_id` follows `target_id`: X API v2 has no relationship lookup between two
        other users, so this pages the source's following list (1,000 a page, at most `pages`)."""
        token: str | None = None
        for _ in range(pages):
            users, token = await self.following(session, source_id, 1000, token)
            if any(u.id == target_id for u in users):
                return True
            if token is None:
                return False
        return False

    async def bookmark_folders(self, session: AccountSession) -> list[Folder]:
        me = session.account.platform_user_id
        response = await self.http.call(
            "GET", f"/2/users/{me}/bookmarks/folders", session.tokens, params={"max_results": "100"}
        )
        return list(self.http.decode(response, FoldersAnswer).data)

    async def dm_history(
        self, session: AccountSession, participant_id: str, limit: int, token: str | None
    ) -> tuple[list[DmEvent], str | None]:
        params = {
            "max_results": str(_bounded(limit, 1, 100)),
            "dm_event.fields": "id,text,event_type,dm_conversation_id,created_at,sender_id",
            "event_types": "MessageCreate",
        }
        if token:
            params["pagination_token"] = token
        path = f"/2/dm_conversations/with/{participant_id}/dm_events"
        response = await self.http.call("GET", path, session.tokens, params=params)
        answer = self.http.decode(response, DmEventsAnswer)
        return list(answer.data), answer.meta.next_token

    # ------------------------------------------------------------------------------- writes

    async def create_tweet(
        self, session: AccountSession, *, text: str, reply_to: str | None = None,
        media_ids: list[str] | None = None, community_id: str | None = None,
    ) -> Created:  # fmt: skip
        body: dict[str, object] = {"text": text}
        if reply_to:
            body["reply"] = {"in_reply_to_tweet_id": reply_to}
        if media_ids:
            body["media"] = {"media_ids": list(media_ids)}
        if community_id:
            body["community_id"] = community_id
        response = await self.http.call("POST", "/2/tweets", session.tokens, json=body)
        return self.http.decode(response, CreatedAnswer).data

    async def retweet(self, session: AccountSession, tweet_id: str) -> bool:
        me = session.account.platform_user_id
        response = await self.http.call(
            "POST", f"/2/users/{me}/retweets", session.tokens, json={"tweet_id": tweet_id}
        )
        return bool(self.http.decode(response, FlagAnswer).data.retweeted)

    async def follow(self, session: AccountSession, target_id: str) -> bool:
        me = session.account.platform_user_id
        response = await self.http.call(
            "POST", f"/2/users/{me}/following", session.tokens, json={"target_user_id": target_id}
        )
        return bool(self.http.decode(response, FlagAnswer).data.following)

    async def unfollow(self, session: AccountSession, target_id: str) -> bool:
        me = session.account.platform_user_id
        response = await self.http.call("DELETE", f"/2/users/{me}/following/{target_id}", session.tokens)
        return not self.http.decode(response, FlagAnswer).data.following

    async def send_dm(
        self, session: AccountSession, participant_id: str, text: str, media_ids: list[str]
    ) -> tuple[str, str]:
        """A DM with media attached: (conversation id, event id)."""
        body: dict[str, object] = {"text": text, "attachments": [{"media_id": m} for m in media_ids]}
        path = f"/2/dm_conversations/with/{participant_id}/messages"
        response = await self.http.call("POST", path, session.tokens, json=body)
        created = self.http.decode(response, CreatedDmAnswer).data
        return created.dm_conversation_id, created.dm_event_id

    async def _multipart(
        self, session: AccountSession, path: str, files: dict[str, tuple[str, bytes, str]],
        data: dict[str, str] | None = None,
    ) -> bytes:  # fmt: skip
        import httpx

        request = httpx.Request("POST", "http://x", files=files, data=data or {})
        content = request.read()
        headers = {"Content-Type": request.headers["Content-Type"]}
        response = await self.http.call("POST", path, session.tokens, content=content, headers=headers)
        return response.content

    async def upload_media(
        self, session: AccountSession, data: bytes, content_type: str, category: str
    ) -> Upload:
        body = await self._multipart(
            session, "/2/media/upload", {"media": ("media", data, content_type)}, {"media_category": category}
        )
        try:
            return msgspec.json.decode(body, type=UploadAnswer).data
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            from engine.social.errors import Transient

            raise Transient(f"x answered an unexpected upload body: {exc}", platform=PLATFORM) from exc

    async def update_profile(self, session: AccountSession, fields: dict[str, str]) -> V1User:
        response = await self.http.call(
            "POST",
            "/1.1/account/update_profile.json",
            session.tokens,
            content=httpx_form(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return self.http.decode(response, V1User)

    async def update_avatar(self, session: AccountSession, data: bytes, content_type: str) -> None:
        await self._multipart(
            session, "/1.1/account/update_profile_image.json", {"image": ("image", data, content_type)}
        )

    async def update_banner(self, session: AccountSession, data: bytes, content_type: str) -> None:
        await self._multipart(
            session, "/1.1/account/update_profile_banner.json", {"banner": ("banner", data, content_type)}
        )


def httpx_form(fields: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()
