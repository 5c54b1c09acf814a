"""X over the X API v2: every PlatformConnector action as the endpoint X documents for it.

    connector = XConnector(base_url=settings.social.x_api_base_url)   # https://api.x.com, or a simulator
    await connector.create_post(session, CreatePost(text="hello"))    # POST /2/tweets

| action                     | X API v2                                                         |
|----------------------------|------------------------------------------------------------------|
| create_post, reply         | POST /2/tweets  {text, reply: {in_reply_to_tweet_id}}            |
| delete_post                | DELETE /2/tweets/:id                                             |
| get_post                   | GET /2/tweets/:id (public_metrics, author expansion)             |
| list_posts                 | GET /2/users/:id/tweets (since_id, pagination_token)             |
| like / unlike              | POST /2/users/:id/likes {tweet_id} / DELETE /2/users/:id/likes/:tweet_id |
| hide_reply                 | PUT /2/tweets/:id/hidden {hidden}                                |
| send_dm                    | POST /2/dm_conversations/with/:participant_id/messages {text}   |
| send_conversation_dm       | POST /2/dm_conversations/:dm_conversation_id/messages {text}    |
| list_dm_events             | GET /2/dm_events (MessageCreate, pagination_token)               |
| list_conversation_messages | GET /2/dm_conversations/:dm_conversation_id/dm_events           |
| list_mentions              | GET /2/users/:id/mentions (since_id, pagination_token)           |
| list_replies               | GET /2/tweets/search/recent?query=conversation_id:ID (since_id, next_token) |
| lookup_user, me            | GET /2/users/:id, /2/users/by/username/:username, /2/users/me    |

Rules it holds: a 401 means the access token was refused (refresh once, see platform_http); a 429
carries x-rate-limit-reset (unix seconds; the later x-user-limit-24hour-reset when the day's cap is
what ran out); 403 "duplicate content" and DM refusals are Permanent with their codes; a lookup of an
id that does not exist answers 200 with a resource-not-found error, which is Permanent("not_found").
This module must never enforce rate limits (the dispatch loop does, from RULES) or store anything.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from engine.social.actions import (
    ConversationPage,
    CreatePost,
    DmEvent,
    DmRef,
    Done,
    HideReply,
    ListPage,
    NoParams,
    Page,
    Post,
    PostMetrics,
    PostRef,
    PostTarget,
    RepliesPage,
    Reply,
    SendConversationDm,
    SendDm,
    User,
    UserLookup,
)
from engine.social.connector import AccountSession
from engine.social.cursors import SweepState, newer_snowflake
from engine.social.errors import Permanent, RateLimited, SocialError
from engine.social.platform_http import PlatformHttp, int_header, json_body, reset_from_epoch
from engine.social.platforms.x import shapes
from engine.social.platforms.x.rules import RULES

PLATFORM = "x"
_WINDOW_FALLBACK = 15 * 60.0  # reset unknown: X's windows are 15 minutes


def _rejected(response: httpx.Response) -> bool:
    return response.status_code == 401


def _rate_limited(response: httpx.Response) -> RateLimited:
    reset = reset_from_epoch(response.headers.get("x-rate-limit-reset"), _WINDOW_FALLBACK)
    remaining = int_header(response, "x-rate-limit-remaining")
    if int_header(response, "x-user-limit-24hour-remaining") == 0:  # the day's cap, not the window
        reset = max(
            reset, reset_from_epoch(response.headers.get("x-user-limit-24hour-reset"), _WINDOW_FALLBACK)
        )
    return RateLimited(
        reset,
        platform=PLATFORM,
        limit=int_header(response, "x-rate-limit-limit"),
        remaining=remaining,
        message=_problem_text(response) or "rate limit exceeded",
    )


def _problem_text(response: httpx.Response) -> str:
    body = json_body(response)
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get("detail") or body.get("title") or "")]
    for error in body.get("errors") or []:
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
    return "; ".join(part for part in parts if part)


def _classify(response: httpx.Response) -> SocialError:
    status = response.status_code
    text = _problem_text(response)
    lowered = text.lower()
    path = response.request.url.path
    if "duplicate content" in lowered:
        code = "duplicate_content"
    elif status == 403 and "/dm_conversations/" in path and "authentication" not in lowered:
        code = "recipient_not_accepting_dms"
    elif status == 403 and "scope" in lowered:
        code = "scope_missing"
    elif status == 404:
        code = "not_found"
    elif status == 403:
        code = "forbidden"
    elif "too long" in lowered or "text is too long" in lowered:
        code = "text_too_long"
    else:
        code = "invalid_request"
    return Permanent(code, text or f"X answered {status}", platform=PLATFORM, status=status, detail=text)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _not_found(errors: list[shapes.LookupError_], what: str) -> Permanent:
    detail = errors[0].detail if errors else f"{what} not found"
    return Permanent("not_found", detail, platform=PLATFORM, status=200, detail=detail)


def _post(tweet: shapes.XTweet, users: dict[str, shapes.XUser]) -> Post:
    metrics = tweet.public_metrics
    author = users.get(tweet.author_id or "")
    replied_to = next((ref.id for ref in tweet.referenced_tweets or [] if ref.type == "replied_to"), None)
    username = author.username if author else None
    return Post(
        id=tweet.id,
        text=tweet.text,
        author_id=tweet.author_id or "",
        author_username=username,
        created_at=_time(tweet.created_at),
        conversation_id=tweet.conversation_id,
        in_reply_to=replied_to,
        url=f"https://x.com/{username or 'i/web'}/status/{tweet.id}",
        metrics=None
        if metrics is None
        else PostMetrics(
            likes=metrics.like_count,
            replies=metrics.reply_count,
            reposts=metrics.retweet_count,
            quotes=metrics.quote_count,
            impressions=metrics.impression_count,
        ),
    )


def _dm(event: shapes.XDmEvent) -> DmEvent:
    kinds = {"MessageCreate": "message", "ParticipantsJoin": "participants_join"}
    return DmEvent(
        id=event.id,
        conversation_id=event.dm_conversation_id or "",
        sender_id=event.sender_id or "",
        text=event.text or "",
        created_at=_time(event.created_at),
        event_type=kinds.get(event.event_type, "participants_leave"),
    )


def _bounded(limit: int, low: int, high: int) -> int:
    return max(low, min(high, limit))


class XConnector:
    """PlatformConnector for X (engine.social.connector)."""

    platform = PLATFORM
    rate_rules = RULES

    def __init__(
        self,
        base_url: str = "https://api.x.com",
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = PlatformHttp(
            PLATFORM,
            base_url,
            rejected=_rejected,
            classify=_classify,
            rate_limited=_rate_limited,
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------------------------ posts

    async def _create(self, session: AccountSession, body: dict[str, object]) -> PostRef:
        response = await self.http.call("POST", "/2/tweets", session.tokens, json=body)
        created = self.http.decode(response, shapes.CreatedTweetAnswer).data
        username = session.account.username or "i/web"
        return PostRef(id=created.id, text=created.text, url=f"https://x.com/{username}/status/{created.id}")

    async def create_post(self, session: AccountSession, params: CreatePost) -> PostRef:
        body: dict[str, object] = {"text": params.text}
        if params.media_ids:
            body["media"] = {"media_ids": list(params.media_ids)}
        return await self._create(session, body)

    async def reply(self, session: AccountSession, params: Reply) -> PostRef:
        return await self._create(
            session, {"text": params.text, "reply": {"in_reply_to_tweet_id": params.in_reply_to}}
        )

    async def delete_post(self, session: AccountSession, params: PostTarget) -> Done:
        try:
            response = await self.http.call("DELETE", f"/2/tweets/{params.post_id}", session.tokens)
        except Permanent as exc:
            if exc.code == "not_found":  # already gone: what a retried delete finds
                return Done(changed=False)
            raise
        return Done(changed=self.http.decode(response, shapes.DeletedAnswer).data.deleted)

    async def get_post(self, session: AccountSession, params: PostTarget) -> Post:
        response = await self.http.call(
            "GET",
            f"/2/tweets/{params.post_id}",
            session.tokens,
            params={
                "tweet.fields": shapes.TWEET_FIELDS,
                "expansions": "author_id",
                "user.fields": shapes.USER_FIELDS,
            },
        )
        answer = self.http.decode(response, shapes.TweetAnswer)
        if answer.data is None:
            raise _not_found(answer.errors, "post")
        return _post(answer.data, {user.id: user for user in answer.includes.users})

    async def _tweet_sweep(
        self, session: AccountSession, path: str, cursor: str | None, limit: int, extra: dict[str, str],
        token_param: str = "pagination_token", bounds: tuple[int, int] = (5, 100),
    ) -> Page[Post]:  # fmt: skip
        state = SweepState.load(cursor)
        query = {
            **extra,
            "max_results": str(_bounded(limit, *bounds)),
            "tweet.fields": shapes.TWEET_FIELDS,
            "expansions": "author_id",
            "user.fields": shapes.USER_FIELDS,
        }
        if state.watermark is not None:
            query["since_id"] = state.watermark
        if state.token is not None:
            query[token_param] = state.token
        response = await self.http.call("GET", path, session.tokens, params=query)
        answer = self.http.decode(response, shapes.TweetsAnswer)
        users = {user.id: user for user in answer.includes.users}
        keep, state, more = state.advance(
            [t.id for t in answer.data], answer.meta.next_token, newer_snowflake
        )
        return Page(items=tuple(_post(answer.data[i], users) for i in keep), cursor=state.dump(), more=more)

    async def list_posts(self, session: AccountSession, params: ListPage) -> Page[Post]:
        path = f"/2/users/{session.account.platform_user_id}/tweets"
        return await self._tweet_sweep(session, path, params.cursor, params.limit, {})

    async def list_mentions(self, session: AccountSession, params: ListPage) -> Page[Post]:
        path = f"/2/users/{session.account.platform_user_id}/mentions"
        return await self._tweet_sweep(session, path, params.cursor, params.limit, {})

    async def list_replies(self, session: AccountSession, params: RepliesPage) -> Page[Post]:
        if not params.post_id.isdigit():
            raise Permanent("invalid_request", "an X post id is a number", platform=PLATFORM)
        return await self._tweet_sweep(
            session,
            "/2/tweets/search/recent",
            params.cursor,
            params.limit,
            {"query": f"conversation_id:{params.post_id}"},
            token_param="next_token",
            bounds=(10, 100),
        )

    # ------------------------------------------------------------------------------- engagement

    async def like(self, session: AccountSession, params: PostTarget) -> Done:
        response = await self.http.call(
            "POST",
            f"/2/users/{session.account.platform_user_id}/likes",
            session.tokens,
            json={"tweet_id": params.post_id},
        )
        return Done(changed=self.http.decode(response, shapes.LikedAnswer).data.liked)

    async def unlike(self, session: AccountSession, params: PostTarget) -> Done:
        response = await self.http.call(
            "DELETE", f"/2/users/{session.account.platform_user_id}/likes/{params.post_id}", session.tokens
        )
        return Done(changed=not self.http.decode(response, shapes.LikedAnswer).data.liked)

    async def hide_reply(self, session: AccountSession, params: HideReply) -> Done:
        response = await self.http.call(
            "PUT", f"/2/tweets/{params.reply_id}/hidden", session.tokens, json={"hidden": params.hidden}
        )
        hidden = self.http.decode(response, shapes.HiddenAnswer).data.hidden
        return Done(changed=hidden == params.hidden)

    # -------------------------------------------------------------------------- direct messages

    async def send_dm(self, session: AccountSession, params: SendDm) -> DmRef:
        response = await self.http.call(
            "POST",
            f"/2/dm_conversations/with/{params.recipient_id}/messages",
            session.tokens,
            json={"text": params.text},
        )
        created = self.http.decode(response, shapes.CreatedDmAnswer).data
        return DmRef(conversation_id=created.dm_conversation_id, message_id=created.dm_event_id)

    async def send_conversation_dm(self, session: AccountSession, params: SendConversationDm) -> DmRef:
        response = await self.http.call(
            "POST",
            f"/2/dm_conversations/{params.conversation_id}/messages",
            session.tokens,
            json={"text": params.text},
        )
        created = self.http.decode(response, shapes.CreatedDmAnswer).data
        return DmRef(conversation_id=created.dm_conversation_id, message_id=created.dm_event_id)

    async def _dm_sweep(
        self, session: AccountSession, path: str, cursor: str | None, limit: int
    ) -> Page[DmEvent]:
        # GET /2/dm_events has no since_id: every sweep starts at the newest event and stops at the
        # watermark (event ids are snowflakes, so "newer" is "larger").
        state = SweepState.load(cursor)
        query = {
            "dm_event.fields": shapes.DM_EVENT_FIELDS,
            "event_types": "MessageCreate",
            "max_results": str(_bounded(limit, 1, 100)),
        }
        if state.token is not None:
            query["pagination_token"] = state.token
        response = await self.http.call("GET", path, session.tokens, params=query)
        answer = self.http.decode(response, shapes.DmEventsAnswer)
        keep, state, more = state.advance(
            [e.id for e in answer.data], answer.meta.next_token, newer_snowflake
        )
        return Page(items=tuple(_dm(answer.data[i]) for i in keep), cursor=state.dump(), more=more)

    async def list_dm_events(self, session: AccountSession, params: ListPage) -> Page[DmEvent]:
        return await self._dm_sweep(session, "/2/dm_events", params.cursor, params.limit)

    async def list_conversation_messages(
        self, session: AccountSession, params: ConversationPage
    ) -> Page[DmEvent]:
        path = f"/2/dm_conversations/{params.conversation_id}/dm_events"
        return await self._dm_sweep(session, path, params.cursor, params.limit)

    # ------------------------------------------------------------------------------------ users

    async def _user(self, session: AccountSession, path: str) -> User:
        response = await self.http.call(
            "GET", path, session.tokens, params={"user.fields": shapes.USER_FIELDS}
        )
        answer = self.http.decode(response, shapes.UserAnswer)
        if answer.data is None:
            raise _not_found(answer.errors, "user")
        return User(id=answer.data.id, username=answer.data.username, display_name=answer.data.name)

    async def lookup_user(self, session: AccountSession, params: UserLookup) -> User:
        if params.user_id is not None:
            if not params.user_id.isdigit():
                raise Permanent("invalid_request", "an X user id is a number", platform=PLATFORM)
            return await self._user(session, f"/2/users/{params.user_id}")
        return await self._user(session, f"/2/users/by/username/{params.username}")

    async def me(self, session: AccountSession, params: NoParams) -> User:
        return await self._user(session, "/2/users/me")
