"""Transaction history pages, usage summaries and per-message margin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
import pytest

from billing import (
    Capture,
    Reservation,
    capture_batch,
    history,
    message_charge,
    refund_batch,
    release_batch,
    reserve_batch,
    usage,
)
from billing.model import InvalidCursor, PostingKind, ReservationState
from tests.billing.conftest import funded

Conn: TypeAlias = "asyncpg.Connection[Any]"


async def test_history_pages_are_newest_first_stable_and_complete(conn: Conn) -> None:
    await funded(conn, 1, 10_000)
    await funded(conn, 2, 10_000)  # another account's postings never show
    await reserve_batch(conn, [Reservation(f"m{i}", 1, 100) for i in range(7)])
    await reserve_batch(conn, [Reservation("other", 2, 100)])
    await capture_batch(conn, [Capture("m0", cost=20)])

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = await history(conn, 1, limit=3, cursor=cursor)
        pages += 1
        seen += [item.posting_id for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        # A posting made while paging lands on top and never shifts the pages still to come.
        if pages == 1:
            await reserve_batch(conn, [Reservation("late", 1, 1)])
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 9  # top-up + 7 reserves + 1 capture
    first = (await history(conn, 1, limit=10)).items
    assert first[0].key == "late"
    capture = next(item for item in first if item.kind is PostingKind.CAPTURE)
    assert (capture.key, capture.available_delta, capture.reserved_delta, capture.cost) == ("m0", 0, -100, 20)
    topup = first[-1]
    assert (topup.kind, topup.available_delta) == (PostingKind.TOPUP, 10_000)


async def test_a_foreign_cursor_is_refused(conn: Conn) -> None:
    for cursor in ["garbage", "cDE6YWJj", ""]:
        with pytest.raises(InvalidCursor):
            await history(conn, 1, cursor=cursor)


async def test_usage_per_day_country_and_carrier_with_margin(conn: Conn) -> None:
    await funded(conn, 1, 1_000_000, refund_undeliverable=True)
    await reserve_batch(
        conn,
        [
            Reservation("a", 1, 100, segments=1, country="DE", carrier="c1"),
            Reservation("b", 1, 200, segments=2, country="DE", carrier="c1"),
            Reservation("c", 1, 300, segments=3, country="FR", carrier="c2"),
            Reservation("d", 1, 400, segments=4, country="FR", carrier="c2"),
        ],
    )
    await capture_batch(
        conn, [Capture("a", cost=60), Capture("b", cost=150), Capture("c", cost=100, carrier="c3")]
    )
    await release_batch(conn, ["d"])
    await refund_batch(conn, ["b"])
    # Move one capture to yesterday to show the periods split.
    await conn.execute(
        "UPDATE billing_postings SET created_at = created_at - interval '1 day'"
        " WHERE key = 'a' AND kind = 'capture'"
    )
    now = datetime.now(UTC)
    since, until = now - timedelta(days=3), now + timedelta(days=1)

    by_day = await usage(conn, 1, period="day", since=since, until=until)
    assert [(r.messages, r.segments, r.charged, r.cost, r.margin) for r in by_day] == [
        (1, 1, 100, 60, 40),
        (2, 5, 300, 250, 50),  # b refunded (200 back), c charged 300; cost 150 + 100
    ]
    by_route = await usage(
        conn, 1, period="month", since=since, until=until, by_country=True, by_carrier=True
    )
    routes = {(r.country, r.carrier): (r.messages, r.charged, r.margin) for r in by_route}
    assert routes[("FR", "c3")] == (1, 300, 200)  # failover's carrier recorded at capture
    assert sum(r.charged for r in by_route) == 400


async def test_message_charge_gives_price_cost_and_margin(conn: Conn) -> None:
    await funded(conn, 1, 10_000)
    await reserve_batch(conn, [Reservation("m", 1, 350), Reservation("n", 1, 350)])
    await capture_batch(conn, [Capture("m", cost=120)])
    charge = await message_charge(conn, "m")
    assert charge is not None
    assert (charge.state, charge.price, charge.charged, charge.cost, charge.margin) == (
        ReservationState.CAPTURED,
        350,
        350,
        120,
        230,
    )
    pending = await message_charge(conn, "n")
    assert pending is not None and (pending.charged, pending.margin) == (0, None)
    assert await message_charge(conn, "never") is None
