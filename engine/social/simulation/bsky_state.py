"""The Bluesky simulator's world: accounts, repo records (posts, likes, thread gates), notifications,
chat conversations and their logs, sessions. Pure state, clock passed in.

    world.add_account("alice.bsky.social", password="app-pass", accepts_dms="all")
    world.mention(of="demo.bsky.social", by="alice.bsky.social")          # a post mentioning demo
    world.reply(to=uri, by="bob.bsky.social")                             # a reply (notifies the author)
    world.dm(to="demo.bsky.social", by="alice.bsky.social", text="hi")   # inbound chat message
    world.expire_access_tokens("demo.bsky.social"); world.revoke("demo.bsky.social")

Record keys and revs are TIDs (13 characters of base32-sortable time), so text order is time order.
This module must never do I/O.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

ACCESS_SECONDS = 2 * 3600
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


@dataclass
class SimAccount:
    did: str
    handle: str
    password: str
    display_name: str
    accepts_dms: str = "all"  # all | following | none (chat.bsky.actor.declaration allowIncoming)
    follows: set[str] = field(default_factory=set)


@dataclass
class SimRecord:
    uri: str
    cid: str
    did: str
    collection: str
    rkey: str
    value: dict[str, Any]
    indexed_at: str


@dataclass
class SimNotification:
    uri: str
    cid: str
    author: str
    reason: str
    record: dict[str, Any]
    indexed_at: str
    recipient: str


@dataclass
class SimConvo:
    id: str
    members: frozenset[str]
    messages: list[dict[str, Any]] = field(default_factory=list)  # messageView, oldest first


@dataclass
class SimSession:
    did: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class BlueskyWorld:
    def __init__(self, clock: Callable[[], float], *, service_url: str = "") -> None:
        self.clock = clock
        self.service_url = service_url
        self.accounts: dict[str, SimAccount] = {}
        self.records: dict[str, SimRecord] = {}  # uri -> record
        self.notifications: list[SimNotification] = []
        self.convos: dict[str, SimConvo] = {}
        self.logs: dict[str, list[dict[str, Any]]] = {}  # did -> log entries, oldest first
        self.access: dict[str, SimSession] = {}
        self.refresh: dict[str, str] = {}  # refresh JWT -> did (single use)
        self._last_tid = 0

    # ------------------------------------------------------------------------------- identity

    def tid(self) -> str:
        micros = max(int(self.clock() * 1_000_000), self._last_tid + 1)
        self._last_tid = micros
        value = (micros << 10) | 7  # 53 bits of microseconds, 10 bits of clock id
        return "".join(_TID_ALPHABET[(value >> (5 * i)) & 31] for i in range(12, -1, -1))

    def now_iso(self) -> str:
        # Microseconds, and strictly increasing: notification and post order follows indexedAt.
        self._last_tid = max(int(self.clock() * 1_000_000), self._last_tid + 1)
        seconds, micros = divmod(self._last_tid, 1_000_000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"

    def add_account(
        self, handle: str, *, password: str = "", display_name: str = "", accepts_dms: str = "all"
    ) -> SimAccount:
        existing = self.account(handle)
        if existing is not None:
            return existing
        did = "did:plc:" + "".join(secrets.choice(_TID_ALPHABET) for _ in range(24))
        account = SimAccount(
            did,
            handle,
            password or secrets.token_urlsafe(12),
            display_name or handle.split(".")[0].title(),
            accepts_dms,
        )
        self.accounts[did] = account
        self.logs[did] = []
        return account

    def account(self, who: str) -> SimAccount | None:
        if who in self.accounts:
            return self.accounts[who]
        return next((a for a in self.accounts.values() if a.handle.lower() == who.lower().lstrip("@")), None)

    def _account(self, who: str) -> SimAccount:
        found = self.account(who)
        if found is None:
            raise KeyError(f"no simulated Bluesky account {who!r}")
        return found

    # ------------------------------------------------------------------------------- sessions

    def _jwt(self, did: str, scope: str, lifetime: float) -> str:
        now = int(self.clock())
        header = _b64(b'{"typ":"at+jwt","alg":"ES256K"}')
        claims = _b64(msgspec.json.encode({"scope": scope, "sub": did, "iat": now, "exp": now + int(lifetime),
                                           "jti": secrets.token_hex(8)}))  # fmt: skip
        return f"{header}.{claims}.{_b64(secrets.token_bytes(32))}"

    def new_session(self, did: str) -> dict[str, Any]:
        account = self.accounts[did]
        access = self._jwt(did, "com.atproto.access", ACCESS_SECONDS)
        refresh = self._jwt(did, "com.atproto.refresh", 90 * 86400)
        self.access[access] = SimSession(did, self.clock() + ACCESS_SECONDS)
        self.refresh[refresh] = did
        return {
            "did": did,
            "handle": account.handle,
            "accessJwt": access,
            "refreshJwt": refresh,
            "active": True,
            "didDoc": {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": did,
                "alsoKnownAs": [f"at://{account.handle}"],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.service_url,
                    }
                ],
            },
        }

    def session_did(self, access_jwt: str) -> tuple[str | None, bool]:
        """(did, expired) for an access JWT; (None, False) when it is unknown or revoked."""
        session = self.access.get(access_jwt)
        if session is None:
            return None, False
        return session.did, session.expires_at <= self.clock()

    def expire_access_tokens(self, who: str) -> None:
        did = self._account(who).did
        for session in self.access.values():
            if session.did == did:
                session.expires_at = 0.0

    def revoke(self, who: str) -> None:
        did = self._account(who).did
        self.access = {t: s for t, s in self.access.items() if s.did != did}
        self.refresh = {t: d for t, d in self.refresh.items() if d != did}

    # -------------------------------------------------------------------------------- records

    def put_record(
        self, did: str, collection: str, value: dict[str, Any], rkey: str | None = None
    ) -> SimRecord:
        rkey = rkey or self.tid()
        uri = f"at://{did}/{collection}/{rkey}"
        cid = (
            "bafyrei" + _b64(hashlib.sha256(msgspec.json.encode(value) + uri.encode()).digest())[:52].lower()
        )
        record = SimRecord(uri, cid, did, collection, rkey, value, self.now_iso())
        self.records[uri] = record
        if collection == "app.bsky.feed.post":
            self._notify_post(record)
        return record

    def _notify_post(self, record: SimRecord) -> None:
        text = str(record.value.get("text", "")).lower()
        notified: set[str] = set()
        reply = record.value.get("reply")
        if isinstance(reply, dict):
            for ref in (reply.get("parent"), reply.get("root")):
                target = self.records.get(str((ref or {}).get("uri")))
                if target is not None and target.did != record.did and target.did not in notified:
                    notified.add(target.did)
                    self._notification(record, "reply", target.did)
        for account in self.accounts.values():
            if (
                account.did != record.did
                and account.did not in notified
                and "@" + account.handle.lower() in text
            ):
                notified.add(account.did)
                self._notification(record, "mention", account.did)

    def _notification(self, record: SimRecord, reason: str, recipient: str) -> None:
        self.notifications.append(
            SimNotification(
                record.uri, record.cid, record.did, reason, record.value, self.now_iso(), recipient
            )
        )

    def posts_by(self, did: str) -> list[SimRecord]:
        """The account's posts, newest first."""
        return sorted(
            (r for r in self.records.values() if r.did == did and r.collection == "app.bsky.feed.post"),
            key=lambda r: r.indexed_at,
            reverse=True,
        )

    def like_of(self, did: str, subject_uri: str) -> SimRecord | None:
        return next(
            (r for r in self.records.values() if r.did == did and r.collection == "app.bsky.feed.like"
             and r.value.get("subject", {}).get("uri") == subject_uri),
            None,
        )  # fmt: skip

    def replies_to(self, uri: str) -> list[SimRecord]:
        posts = (r for r in self.records.values() if r.collection == "app.bsky.feed.post")
        return [r for r in posts if (r.value.get("reply") or {}).get("parent", {}).get("uri") == uri]

    def mention(self, *, of: str, by: str, text: str = "") -> SimRecord:
        target, author = self._account(of), self._account(by)
        body = text or f"@{target.handle} hello from {author.handle}"
        value = {"$type": "app.bsky.feed.post", "text": body, "createdAt": self.now_iso()}
        return self.put_record(author.did, "app.bsky.feed.post", value)

    def reply(self, *, to: str, by: str, text: str = "") -> SimRecord:
        parent = self.records[to]
        author = self._account(by)
        parent_reply = parent.value.get("reply") or {}
        root = parent_reply.get("root") or {"uri": parent.uri, "cid": parent.cid}
        value = {
            "$type": "app.bsky.feed.post",
            "text": text or f"reply from {author.handle}",
            "createdAt": self.now_iso(),
            "reply": {"root": root, "parent": {"uri": parent.uri, "cid": parent.cid}},
        }
        return self.put_record(author.did, "app.bsky.feed.post", value)

    # ----------------------------------------------------------------------------------- chat

    def convo_for(self, members: frozenset[str]) -> SimConvo:
        for convo in self.convos.values():
            if convo.members == members:
                return convo
        convo = SimConvo(self.tid(), members)
        self.convos[convo.id] = convo
        return convo

    def may_message(self, sender: str, recipient: str) -> bool:
        target = self.accounts[recipient]
        if target.accepts_dms == "none":
            return False
        return target.accepts_dms == "all" or sender in target.follows

    def send(self, convo: SimConvo, sender: str, text: str) -> dict[str, Any]:
        rev = self.tid()
        view = {"$type": "chat.bsky.convo.defs#messageView", "id": self.tid(), "rev": rev, "text": text,
                "sender": {"did": sender}, "sentAt": self.now_iso()}  # fmt: skip
        convo.messages.append(view)
        for member in convo.members:
            self.logs[member].append({"$type": "chat.bsky.convo.defs#logCreateMessage", "rev": rev,
                                      "convoId": convo.id, "message": view})  # fmt: skip
        return view

    def dm(self, *, to: str, by: str, text: str = "") -> dict[str, Any]:
        target, author = self._account(to), self._account(by)
        convo = self.convo_for(frozenset({target.did, author.did}))
        return self.send(convo, author.did, text or f"hello from {author.handle}")
