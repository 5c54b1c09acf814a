"""Cursors that hand out every listed item exactly once, across calls and across restarts.

Platforms list newest first and page backwards (X next_token / pagination_token, Bluesky cursor); an
inbox poller wants "everything new since last time". `Sweep` bridges the two: a sweep pages from the
newest item down to the watermark (the newest item of the previous sweep), handing out only items newer
than it; when it reaches the watermark (or the last page), the sweep's first item becomes the new
watermark. The cursor carries all three values, so a poller that stores it after every page resumes
a half-done sweep after a restart with the platform's own page token:

    state = SweepState.load(params.cursor)
    page = await fetch(since=state.watermark, token=state.token)         # newest first
    items, state, more = state.advance(page_ids, page.next_token)

Items that arrive during a sweep are newer than its first item: the next sweep finds them. Page
tokens must denote positions ("older than id N"), as X's and Bluesky's do, not offsets.

`Ascending` is for lists the platform returns whole and unordered (a Bluesky thread's replies): the
cursor is the (time, id) of the last item handed out, and items after it go out oldest first.
Cursors are opaque strings to callers: "s1." or "a1." and urlsafe base64 of JSON.
This module is pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import msgspec

from engine.social.errors import Permanent

T = TypeVar("T")
K = TypeVar("K")


def _encode(prefix: str, value: msgspec.Struct) -> str:
    return prefix + base64.urlsafe_b64encode(msgspec.json.encode(value)).decode().rstrip("=")


def _decode(prefix: str, text: str, type_: type[T]) -> T:
    if not text.startswith(prefix):
        raise Permanent("invalid_request", "cursor is not one this listing gave out")
    body = text[len(prefix) :]
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), type=type_)
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Permanent("invalid_request", "cursor is not one this listing gave out") from exc


class SweepState(msgspec.Struct, frozen=True, omit_defaults=True):
    watermark: str | None = None
    """Newest item id handed out by a finished sweep (None: nothing handed out yet)."""
    token: str | None = None
    """The platform's page token within the sweep under way (None: the next call starts a sweep)."""
    top: str | None = None
    """Newest item id of the sweep under way; becomes the watermark when the sweep ends."""

    @classmethod
    def load(cls, cursor: str | None) -> SweepState:
        return cls() if not cursor else _decode("s1.", cursor, cls)

    def dump(self) -> str:
        return _encode("s1.", self)

    def advance(
        self,
        ids: Sequence[str],
        next_token: str | None,
        newer: Callable[[str, str], bool],
    ) -> tuple[list[int], SweepState, bool]:
        """Given one page of item ids (newest first) and the platform's next page token: the indexes of
        the items to hand out, the state to store, and whether the sweep goes on (call again now).
        `newer(a, b)` is True when item a is newer than item b."""
        top = self.top if self.token is not None else (ids[0] if ids else None)
        if top is not None and self.watermark is not None and not newer(top, self.watermark):
            top = self.watermark
        keep: list[int] = []
        reached = False
        for index, item in enumerate(ids):
            if self.watermark is not None and not newer(item, self.watermark):
                reached = True
                break
            keep.append(index)
        if reached or not next_token:
            return keep, SweepState(watermark=top or self.watermark), False
        return keep, SweepState(watermark=self.watermark, token=next_token, top=top), True


def newer_snowflake(a: str, b: str) -> bool:
    """X ids are snowflakes: a larger number is a newer item."""
    return (len(a), a) > (len(b), b) if a.isdigit() and b.isdigit() else a > b


def newer_text(a: str, b: str) -> bool:
    """Ids that sort as text in time order (Bluesky TIDs, ISO timestamps with a tie-breaker)."""
    return a > b


class AscendingState(msgspec.Struct, frozen=True, omit_defaults=True):
    after: str | None = None
    """Sort key of the last item handed out."""

    @classmethod
    def load(cls, cursor: str | None) -> AscendingState:
        return cls() if not cursor else _decode("a1.", cursor, cls)

    def dump(self) -> str:
        return _encode("a1.", self)


class Ascending(Generic[T]):
    """Hand out the items of an unordered whole list after a cursor, oldest first, `limit` at a time."""

    def __init__(self, key: Callable[[T], str]) -> None:
        self._key = key

    def page(self, items: Sequence[T], cursor: str | None, limit: int) -> tuple[list[T], str, bool]:
        state = AscendingState.load(cursor)
        ordered = sorted(
            (item for item in items if state.after is None or self._key(item) > state.after), key=self._key
        )
        out = ordered[: max(1, limit)]
        after = self._key(out[-1]) if out else state.after
        return out, AscendingState(after=after).dump(), len(ordered) > len(out)
