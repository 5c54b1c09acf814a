"""The platforms' windows as the dispatch loop keeps them: seed 000's 180 DMs and 200 posts per 15
minutes per account, exactly, on a manual clock."""

from __future__ import annotations

from engine.social.actions import Action
from engine.social.connector import rules_for
from engine.social.jobs.limits import RateLimiter
from engine.social.platforms.x.connector import XConnector

WINDOW = 15 * 60


def test_seed_000_limits_per_account_hold_exactly() -> None:
    x = XConnector()
    limiter = RateLimiter(margin=0.0)
    a, b = ("1", "x"), ("2", "x")
    for action, limit in ((Action.SEND_DM, 180), (Action.CREATE_POST, 200)):
        rules = rules_for(x, action)
        assert [limiter.wait(a, rules, action, 10.0 + i * 0.001) for i in range(limit)] == [0.0] * limit
        wait = limiter.wait(a, rules, action, 20.0)
        assert 0 < wait <= WINDOW and abs(20.0 + wait - (10.0 + WINDOW)) < 0.01
        assert limiter.wait(b, rules, action, 20.0) == 0.0  # another account has its own window
        assert limiter.wait(a, rules, action, 10.0 + WINDOW + 0.0005) == 0.0  # the first call left it


def test_replies_count_against_posts_and_dm_kinds_share_one_window() -> None:
    x = XConnector()
    limiter = RateLimiter(margin=0.0)
    scope = ("1", "x")
    for i in range(100):
        assert limiter.wait(scope, rules_for(x, Action.CREATE_POST), Action.CREATE_POST, i * 0.01) == 0.0
        assert limiter.wait(scope, rules_for(x, Action.REPLY), Action.REPLY, i * 0.01) == 0.0
    assert limiter.wait(scope, rules_for(x, Action.REPLY), Action.REPLY, 5.0) > 0
    for _ in range(90):
        assert limiter.wait(scope, rules_for(x, Action.SEND_DM), Action.SEND_DM, 1.0) == 0.0
        assert (
            limiter.wait(scope, rules_for(x, Action.SEND_CONVERSATION_DM), Action.SEND_CONVERSATION_DM, 1.0)
            == 0.0
        )
    assert limiter.wait(scope, rules_for(x, Action.SEND_DM), Action.SEND_DM, 2.0) > 0
