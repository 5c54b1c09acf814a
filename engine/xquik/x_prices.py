"""What each X lookup and write of the Xquik surface costs in credits: the one price list.

From the Xquik document (seed 002) and its package's pricing reference (x-developer,
references/pricing.md): reads cost 1 credit per call or per result returned, a follow check and an
article 5 per call, every write 10 per call (remove follower, avatar and banner say so themselves).
A per-result read reserves `per_result * limit` before it calls X and captures what was returned;
a per-call operation reserves its price and captures it when X answered, releases it when X failed.
This module holds data only.
"""

from __future__ import annotations

from typing import Literal

import msgspec

WRITES = (
    "x.tweet.create", "x.tweet.delete", "x.like", "x.unlike", "x.retweet", "x.follow", "x.unfollow",
    "x.remove_follower", "x.dm.send", "x.profile", "x.avatar", "x.banner", "x.media",
    "x.community.create", "x.community.delete", "x.community.join", "x.community.leave",
)  # fmt: skip


class Price(msgspec.Struct, frozen=True):
    credits: int
    unit: Literal["call", "result"] = "call"


PRICES: dict[str, Price] = {
    # X API (direct lookups)
    "x.tweet": Price(1),
    "x.article": Price(5),
    "x.search": Price(1, "result"),
    "x.user": Price(1),
    "x.follow_check": Price(5),
    "x.user_tweets": Price(1, "result"),
    "x.user_likes": Price(1, "result"),
    "x.user_media": Price(1, "result"),
    "x.favoriters": Price(1, "result"),
    "x.followers_you_know": Price(1, "result"),
    "x.bookmarks": Price(1, "result"),
    "x.bookmark_folders": Price(1),
    "x.notifications": Price(1, "result"),
    "x.timeline": Price(1, "result"),
    "x.dm_history": Price(1, "result"),
    # X Write: 10 credits a call
    **{name: Price(10) for name in WRITES},
    # Tweet style cache: fetching tweets, and their live metrics, per tweet
    "styles.fetch": Price(1, "result"),
    "styles.performance": Price(1, "result"),
}


def reserve_for(name: str, limit: int = 1) -> int:
    """Credits to reserve before the work: the call's price, or per result times the page asked for."""
    price = PRICES[name]
    return price.credits * (max(1, limit) if price.unit == "result" else 1)


def cost_of(name: str, results: int = 1) -> int:
    """Credits the work cost once done: per call, or per result returned."""
    price = PRICES[name]
    return price.credits * (results if price.unit == "result" else 1)
