"""Xquik credits on the one ledger: a currency (XQC) of billing's micro-unit double-entry ledger.

    info = await balance(pool, account_id)                      # CreditInfo (whole credits)
    hold = await reserve(pool, account_id, 50, "x.tweets", ref) # InsufficientCredits before any work
    ...the metered work...
    await capture(pool, hold, credits_used=12)                  # 12 charged, 38 back to the balance
    await release(pool, hold)                                   # or: nothing charged
    await charge(pool, account_id, 1, "x.tweet", ref)           # reserve + capture at once

Each account with an Xquik credit record (table xquik_accounts) has a ledger customer of its own,
`ledger_id = LEDGER_OFFSET + account_id`, in currency XQC (an account's money customer keeps its own
currency, one per ledger customer). One credit is `UNIT` micro-units. Credits come in only as ledger
top-ups: a settled payment (`settle_payment`, called by engine/payments when a credits payment is paid,
key `payment:<provider>:<ref>`) or an operator's grant (`grant`). A hold is one ledger reservation
(ref `xq:<account>:<ref>`) and one xquik_credit_holds row whose state moves in the same transaction, so
`smsengine ledger check` names every open hold as pending work (engine/admin/ledger.py). Capturing less
than was held releases the reservation and captures the used part as its own reservation
(`<ledger ref>:used`), in one transaction: the ledger never moves part of a reservation.

Idempotent by ref: reserving a ref held before returns that hold (no second reservation), settling a
settled hold does nothing. This module must never move credits except through billing's postings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import msgspec

from billing.accounts import open_account, top_up
from billing.model import Capture, Reservation, ReserveOutcome
from billing.postings import capture_batch, release_batch, reserve_batch

CURRENCY = "XQC"
UNIT = 1_000_000  # micro-units of XQC per credit
LEDGER_OFFSET = 1 << 62  # ledger customer id of an account's credits: LEDGER_OFFSET + account_id
# The document's price: USD 0.00015 per credit, whole credits rounded down ($25 -> 166,666 credits).
CREDITS_PER_DOLLAR_NUMERATOR, CREDITS_PER_DOLLAR_DENOMINATOR = 20_000, 3


class CreditError(Exception):
    """Base of the credit refusals (the HTTP surface answers them as 402)."""


class NoCredits(CreditError):
    """The account has no credit record (402 no_credits)."""


class InsufficientCredits(CreditError):
    """The balance is too low for what is asked (402 insufficient_credits)."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"{needed} credits needed, {available} available")
        self.needed = needed
        self.available = available


class CreditInfo(msgspec.Struct, frozen=True):
    """An account's credits, in whole credits (the HTTP surface writes them as strings)."""

    balance: int  # spendable now
    reserved: int  # held for work still running
    lifetime_purchased: int
    lifetime_used: int
    auto_topup_enabled: bool
    auto_topup_amount_dollars: int
    auto_topup_threshold: int
    exists: bool = True  # False: no credit record (all figures 0)


class Hold(msgspec.Struct, frozen=True):
    account_id: int
    ref: str
    kind: str
    credits: int
    ledger_ref: str


def credits_for_cents(cents: int) -> int:
    """Whole credits bought by `cents` US cents (rounded down)."""
    return cents * CREDITS_PER_DOLLAR_NUMERATOR // (100 * CREDITS_PER_DOLLAR_DENOMINATOR)


def ledger_id_of(account_id: int) -> int:
    return LEDGER_OFFSET + account_id


# Called after a capture leaves the balance under the account's auto top-up threshold (rule on), per
# pool (one engine's database): installed by the engine when it has a payment provider (autotopup.py).
AutoTopup = Callable[[int], Awaitable[None]]
_auto_topup: dict[int, tuple[asyncpg.Pool, AutoTopup]] = {}  # id(pool) -> (that pool, its hook)


def set_auto_topup(pool: asyncpg.Pool, hook: AutoTopup | None) -> None:
    """Install (or, with None, remove) the auto top-up of the engine whose pool this is."""
    if hook is None:
        _auto_topup.pop(id(pool), None)
    else:
        _auto_topup[id(pool)] = (pool, hook)


def _hook_of(pool: asyncpg.Pool) -> AutoTopup | None:
    found = _auto_topup.get(id(pool))
    return found[1] if found is not None and found[0] is pool else None


_INFO = """
SELECT x.auto_topup_enabled, x.auto_topup_amount_dollars, x.auto_topup_threshold,
       c.account_id IS NOT NULL AS has_ledger, a.balance AS available, r.balance AS reserved,
       (SELECT coalesce(sum(amount), 0) FROM billing_postings
         WHERE account_id = x.ledger_id AND kind = 'topup') AS purchased,
       (SELECT coalesce(sum(amount), 0) FROM billing_postings
         WHERE account_id = x.ledger_id AND kind = 'capture') AS used
FROM xquik_accounts x
LEFT JOIN billing_customers c ON c.account_id = x.ledger_id
LEFT JOIN billing_ledger_accounts a ON a.id = c.available_id
LEFT JOIN billing_ledger_accounts r ON r.id = c.reserved_id
WHERE x.account_id = $1
"""

_EMPTY = CreditInfo(0, 0, 0, 0, False, 10, 50_000, exists=False)


async def balance(pool: asyncpg.Pool, account_id: int) -> CreditInfo:
    row = await pool.fetchrow(_INFO, account_id)
    if row is None:
        return _EMPTY
    return CreditInfo(
        balance=int(row["available"] or 0) // UNIT,
        reserved=int(row["reserved"] or 0) // UNIT,
        lifetime_purchased=int(row["purchased"]) // UNIT,
        lifetime_used=int(row["used"]) // UNIT,
        auto_topup_enabled=row["auto_topup_enabled"],
        auto_topup_amount_dollars=row["auto_topup_amount_dollars"],
        auto_topup_threshold=int(row["auto_topup_threshold"]),
        exists=bool(row["has_ledger"]),
    )


async def open_profile(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, account_id: int) -> None:
    """The account's Xquik row (locale, X identity, auto top-up rule), without a credit record."""
    await conn.execute(
        "INSERT INTO xquik_accounts (account_id, ledger_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        account_id,
        ledger_id_of(account_id),
    )


async def open_credits(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, account_id: int) -> int:
    """The account's credit record: its ledger customer in XQC (idempotent); its ledger id. Opened by
    the first credits that come in (a settled payment, a grant): before that, reserve says NoCredits."""
    await open_profile(conn, account_id)
    ledger_id = ledger_id_of(account_id)
    await open_account(conn, ledger_id, CURRENCY)
    return ledger_id


async def grant(pool: asyncpg.Pool, account_id: int, credits: int, key: str) -> CreditInfo:
    """Credit the account (an operator's grant, a test's), once per `key`; opens the record if needed."""
    if credits <= 0:
        raise ValueError("a grant is a positive number of credits")
    async with pool.acquire() as conn, conn.transaction():
        ledger_id = await open_credits(conn, account_id)
        await top_up(conn, ledger_id, credits * UNIT, f"xquik-grant:{account_id}:{key}")
    return await balance(pool, account_id)


# Payment kinds (engine/payments) that buy Xquik credits, and the subscription's.
CREDIT_PAYMENTS = frozenset({"xquik_credits", "xquik_quick_topup", "xquik_auto_topup"})
SUBSCRIPTION_PAYMENT = "xquik_subscription"
PAYMENT_KINDS = CREDIT_PAYMENTS | {SUBSCRIPTION_PAYMENT}


async def settle_payment(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
    account_id: int,
    kind: str,
    amount_minor: int,
    key: str,
) -> str:
    """A paid Xquik payment (USD cents), in the payment's settling transaction (engine/payments
    `Payments.settle`): credits topped up under the payment's key, or the plan made active. Returns
    the invoice line's description."""
    if kind == SUBSCRIPTION_PAYMENT:
        await open_profile(conn, account_id)
        await conn.execute("UPDATE xquik_accounts SET plan = 'active' WHERE account_id = $1", account_id)
        return "Xquik subscription"
    await open_credits(conn, account_id)
    credits = credits_for_cents(amount_minor)
    if credits > 0:
        await top_up(conn, ledger_id_of(account_id), credits * UNIT, key)
    return f"Xquik credits ({credits})" + (" (auto top-up)" if kind == "xquik_auto_topup" else "")


def _ledger_ref(account_id: int, ref: str) -> str:
    return f"xq:{account_id}:{ref}"


async def reserve(pool: asyncpg.Pool, account_id: int, credits: int, kind: str, ref: str) -> Hold:
    """Hold `credits` for work about to run; InsufficientCredits / NoCredits before anything is held.

    A ref held before (whatever its state) returns that hold: nothing is held twice.
    """
    if credits < 0:
        raise ValueError("credits must not be negative")
    ledger_ref = _ledger_ref(account_id, ref)
    async with pool.acquire() as conn, conn.transaction():
        ledger_id = await conn.fetchval(
            "SELECT ledger_id FROM xquik_accounts WHERE account_id = $1", account_id
        )
        if ledger_id is None:
            raise NoCredits("no credit balance record exists for this account")
        inserted = await conn.fetchrow(
            "INSERT INTO xquik_credit_holds (ledger_ref, account_id, ref, kind, credits)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING credits",
            ledger_ref, account_id, ref, kind, credits,
        )  # fmt: skip
        if inserted is None:
            row = await conn.fetchrow(
                "SELECT kind, credits, ledger_ref FROM xquik_credit_holds WHERE account_id = $1 AND ref = $2",
                account_id,
                ref,
            )
            assert row is not None
            return Hold(account_id, ref, row["kind"], int(row["credits"]), row["ledger_ref"])
        result = await reserve_batch(conn, [Reservation(ledger_ref, int(ledger_id), credits * UNIT)])
        outcome = result.results[0].outcome
        if outcome is ReserveOutcome.INSUFFICIENT:
            available = await conn.fetchval(
                "SELECT a.balance FROM billing_customers c JOIN billing_ledger_accounts a"
                " ON a.id = c.available_id WHERE c.account_id = $1",
                ledger_id,
            )
            raise InsufficientCredits(credits, int(available or 0) // UNIT)  # rolls the hold row back
        if outcome is ReserveOutcome.UNKNOWN_ACCOUNT:
            raise NoCredits("no credit balance record exists for this account")
    return Hold(account_id, ref, kind, credits, ledger_ref)


async def capture(pool: asyncpg.Pool, hold: Hold, credits_used: int) -> None:
    """Charge `credits_used` of the hold (at most what it holds) and give the rest back; once."""
    if not 0 <= credits_used <= hold.credits:
        raise ValueError(f"credits_used must be 0..{hold.credits}, got {credits_used}")
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT state FROM xquik_credit_holds WHERE ledger_ref = $1 FOR UPDATE", hold.ledger_ref
        )
        if row is None or row["state"] != "open":
            return
        if credits_used == hold.credits and credits_used > 0:
            await capture_batch(conn, [Capture(hold.ledger_ref)])
        else:
            await release_batch(conn, [hold.ledger_ref])
            if credits_used > 0:
                used_ref = hold.ledger_ref + ":used"
                ledger_id = ledger_id_of(hold.account_id)
                await reserve_batch(conn, [Reservation(used_ref, ledger_id, credits_used * UNIT)])
                await capture_batch(conn, [Capture(used_ref)])
        await conn.execute(
            "UPDATE xquik_credit_holds SET state = $2, used = $3, settled_at = now() WHERE ledger_ref = $1",
            hold.ledger_ref, "captured" if credits_used > 0 else "released", credits_used,
        )  # fmt: skip
        low = await conn.fetchval(
            "SELECT x.auto_topup_enabled AND a.balance < x.auto_topup_threshold * $2::bigint"
            " FROM xquik_accounts x JOIN billing_customers c ON c.account_id = x.ledger_id"
            " JOIN billing_ledger_accounts a ON a.id = c.available_id WHERE x.account_id = $1",
            hold.account_id, UNIT,
        )  # fmt: skip
    hook = _hook_of(pool)
    if low and credits_used > 0 and hook is not None:
        await hook(hold.account_id)


async def release(pool: asyncpg.Pool, hold: Hold) -> None:
    """Give the whole hold back (the work failed or was not done); once."""
    await capture(pool, hold, 0)


async def charge(pool: asyncpg.Pool, account_id: int, credits: int, kind: str, ref: str) -> Hold:
    """Reserve and capture `credits` at once (a fixed-price call); idempotent by ref."""
    hold = await reserve(pool, account_id, credits, kind, ref)
    await capture(pool, hold, hold.credits)
    return hold
