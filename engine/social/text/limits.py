"""Each platform's text limits, checked exactly and explained, as SMS preview explains segments.

    check = check_text("x", "post", "Hello 👋 https://example.com")
    check.ok, check.length, check.limit, check.unit      # True, 31, 280, "weighted characters"
    check.segments                                       # what counted how (engine.social.text.weighted)
    check.problems                                       # ["text_too_long: 312 weighted characters ..."]

| platform | kind | limit                                                                      |
|----------|------|----------------------------------------------------------------------------|
| x        | post | 280 weighted characters (twitter-text v3: URLs 23, emoji 2, CJK 2)          |
| x        | dm   | 10,000 characters (code points after NFC), X API v2 DM reference            |
| bluesky  | post | 300 graphemes and 3,000 UTF-8 bytes (lexicon app.bsky.feed.post `text`)     |
| bluesky  | dm   | 1,000 graphemes and 10,000 UTF-8 bytes (chat.bsky.convo.defs#messageInput) |

Empty (or only whitespace) text is refused everywhere: platforms refuse a post without text or media.
This module is pure.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

import msgspec
import regex

from engine.social.text.weighted import X_V3, Segment, weigh

Kind = Literal["post", "dm"]
_CLUSTER = regex.compile(r"\X")

X_DM_MAX_CHARACTERS = 10_000
BLUESKY_POST_GRAPHEMES, BLUESKY_POST_BYTES = 300, 3000
BLUESKY_DM_GRAPHEMES, BLUESKY_DM_BYTES = 1000, 10_000


class TextCheck(msgspec.Struct, frozen=True, kw_only=True):
    platform: str
    kind: str
    ok: bool
    length: int
    """The count the platform limits, in `unit`."""
    limit: int
    unit: str
    remaining: int
    problems: tuple[str, ...] = ()
    """Codes with a sentence each: empty_text, text_too_long, text_too_many_bytes, invalid_character."""
    bytes: int | None = None
    byte_limit: int | None = None
    graphemes: int | None = None
    characters: int
    normalized: bool = False
    segments: tuple[Segment, ...] = ()


def x_post_length(text: str) -> int:
    return weigh(text, X_V3).weighted_length


def graphemes(text: str) -> int:
    return sum(1 for _ in _CLUSTER.finditer(text))


def _x(kind: Kind, text: str) -> TextCheck:
    normalized = unicodedata.normalize("NFC", text)
    problems: list[str] = []
    if not normalized.strip():
        problems.append("empty_text: the text is empty")
    if kind == "post":
        weighed = weigh(text, X_V3)
        if weighed.weighted_length > weighed.max_length:
            problems.append(
                f"text_too_long: {weighed.weighted_length} weighted characters, X allows {weighed.max_length}"
            )
        if any(segment.kind == "invalid" for segment in weighed.segments):
            problems.append("invalid_character: U+FFFE, U+FEFF and U+FFFF are not allowed")
        return TextCheck(
            platform="x",
            kind=kind,
            ok=not problems,
            length=weighed.weighted_length,
            limit=weighed.max_length,
            unit="weighted characters",
            remaining=weighed.max_length - weighed.weighted_length,
            problems=tuple(problems),
            characters=len(normalized),
            normalized=weighed.normalized,
            segments=weighed.segments,
        )
    count = len(normalized)
    if count > X_DM_MAX_CHARACTERS:
        problems.append(f"text_too_long: {count} characters, X allows {X_DM_MAX_CHARACTERS} in a DM")
    return TextCheck(
        platform="x",
        kind=kind,
        ok=not problems,
        length=count,
        limit=X_DM_MAX_CHARACTERS,
        unit="characters",
        remaining=X_DM_MAX_CHARACTERS - count,
        problems=tuple(problems),
        characters=count,
        normalized=normalized != text,
    )


def _bluesky(kind: Kind, text: str) -> TextCheck:
    normalized = unicodedata.normalize("NFC", text)
    grapheme_limit, byte_limit = (
        (BLUESKY_POST_GRAPHEMES, BLUESKY_POST_BYTES)
        if kind == "post"
        else (BLUESKY_DM_GRAPHEMES, BLUESKY_DM_BYTES)
    )
    count = graphemes(normalized)
    size = len(normalized.encode("utf-8"))
    problems: list[str] = []
    if not normalized.strip():
        problems.append("empty_text: the text is empty")
    if count > grapheme_limit:
        problems.append(f"text_too_long: {count} graphemes, Bluesky allows {grapheme_limit}")
    if size > byte_limit:
        problems.append(f"text_too_many_bytes: {size} UTF-8 bytes, Bluesky allows {byte_limit}")
    return TextCheck(
        platform="bluesky",
        kind=kind,
        ok=not problems,
        length=count,
        limit=grapheme_limit,
        unit="graphemes",
        remaining=grapheme_limit - count,
        problems=tuple(problems),
        bytes=size,
        byte_limit=byte_limit,
        graphemes=count,
        characters=len(normalized),
        normalized=normalized != text,
    )


def check_text(platform: str, kind: Kind, text: str) -> TextCheck:
    """Check `text` against `platform`'s limit for `kind`; ValueError for an unknown platform/kind."""
    if kind not in ("post", "dm"):
        raise ValueError(f"unknown text kind {kind!r}")
    if platform == "x":
        return _x(kind, text)
    if platform == "bluesky":
        return _bluesky(kind, text)
    raise ValueError(f"no text limits known for platform {platform!r}")
