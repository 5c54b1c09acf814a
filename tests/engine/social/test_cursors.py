"""Sweep cursors against a model: items arrive while a poller pages newest-first with page tokens
that denote positions, stores its cursor and restarts between calls; every item is handed out once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.social.cursors import Ascending, AscendingState, SweepState, newer_snowflake
from engine.social.errors import Permanent


class Feed:
    """A platform listing: newest first, `since` excludes older, a token means 'older than id N'."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def page(self, since: str | None, token: str | None, size: int) -> tuple[list[str], str | None]:
        newest_first = sorted(self.ids, reverse=True)
        chosen = [
            i for i in newest_first if (token is None or i < int(token)) and (since is None or i > int(since))
        ]
        page = chosen[:size]
        return [str(i) for i in page], (str(page[-1]) if len(chosen) > size else None)


def poll(feed: Feed, cursor: str | None, size: int, use_since: bool) -> tuple[list[str], str, bool]:
    state = SweepState.load(cursor)  # a restart is exactly this: only the stored cursor survives
    ids, token = feed.page(state.watermark if use_since else None, state.token, size)
    keep, state, more = state.advance(ids, token, newer_snowflake)
    return [ids[i] for i in keep], state.dump(), more


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 7)), max_size=40), st.booleans())
def test_every_item_is_handed_out_exactly_once(steps: list[tuple[bool, int]], use_since: bool) -> None:
    feed = Feed()
    next_id = 10**17
    cursor: str | None = None
    seen: list[str] = []
    for arrive, n in steps:
        if arrive:
            for _ in range(n):
                next_id += 1 + n  # increasing, with gaps, as snowflakes
                feed.ids.append(next_id)
        else:
            got, cursor, _ = poll(feed, cursor, n, use_since)
            seen.extend(got)
    for _ in range(1000):  # finish: poll until a whole fresh sweep hands out nothing
        fresh = SweepState.load(cursor).token is None
        got, cursor, more = poll(feed, cursor, 3, use_since)
        seen.extend(got)
        if fresh and not more and not got:
            break
    assert sorted(seen) == sorted(str(i) for i in feed.ids)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("bad", ["garbage", "s1.!!!", "s1.eyJ3YXRlcm1hcmsiOjF9", "a1.x"])
def test_a_cursor_from_elsewhere_is_refused(bad: str) -> None:
    with pytest.raises(Permanent):
        SweepState.load(bad) if not bad.startswith("a1.") else AscendingState.load(bad)


def test_snowflakes_compare_as_numbers() -> None:
    assert newer_snowflake("100", "99") and not newer_snowflake("99", "100")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 10**6), max_size=6), max_size=8), st.integers(1, 4))
def test_ascending_pages_hand_out_new_items_once_oldest_first(batches: list[list[int]], limit: int) -> None:
    pager: Ascending[str] = Ascending(lambda item: item)
    items: list[str] = []
    cursor: str | None = None
    seen: list[str] = []
    for number, batch in enumerate(batches):
        items.extend(f"{number:06d}-{i:07d}" for i in sorted(set(batch)))  # later items sort later
        more = True
        while more:
            page, cursor, more = pager.page(items, cursor, limit)
            assert page == sorted(page)
            seen.extend(page)
    assert seen == sorted(items) and len(seen) == len(set(seen))
