"""The payments service: checkout sessions, settling what the provider says was paid, auto top-up.

    checkout = await payments.create_checkout(account_id, amount_minor, success_url=..., cancel_url=...)
    outcome = await payments.handle_event(payload, signature)     # the provider's webhook, verified
    await payments.auto_topup_pass()                              # also run every interval by start()

Settling is the one place money comes in: in one transaction, the payment row is locked, the ledger
topped up under the key `payment:<provider>:<ref>` (billing's idempotency: never twice, whatever retries
the provider makes), the payment marked paid, an invoice numbered and stored, and the card kept for
auto top-up. Auto top-up charges the saved card of each account whose rule is on and whose balance is
below its threshold, at most one charge per account in ten minutes, with an idempotency key per attempt;
a declined card disables nothing but waits an hour before the next try. This module never trusts an unverified
event, and never moves money except through billing.top_up.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
import structlog

from billing import balance, top_up
from billing.money import from_minor, to_minor
from engine.infra.settings import PaymentsSettings
from engine.payments.provider import Charge, Failed, Ignored, Paid, PaymentError, PaymentProvider
from engine.xquik import credits as xquik_credits

log = structlog.get_logger("engine.payments")


class NotConfigured(Exception):
    """No payment provider is configured (payments.stripe_api_key is empty)."""


# The smallest and largest top-up bought at once, in minor units of the account's currency (the HTTP
# schema states the same bounds).
MIN_TOPUP_MINOR = 500
MAX_TOPUP_MINOR = 1_000_000


class InvalidAmount(ValueError):
    """A top-up outside MIN_TOPUP_MINOR .. MAX_TOPUP_MINOR."""


@dataclass(frozen=True)
class PaymentRow:
    id: int
    account_id: int
    kind: str
    provider_ref: str
    amount_minor: int
    currency: str
    status: str
    url: str
    error: str
    created_at: datetime
    paid_at: datetime | None


_PAYMENT = """SELECT id, account_id, kind, provider_ref, amount_minor, currency, status, url, error,
created_at, paid_at FROM payments"""
_NEXT_NUMBER = """INSERT INTO invoice_numbers (year, last) VALUES ($1, 1)
ON CONFLICT (year) DO UPDATE SET last = invoice_numbers.last + 1 RETURNING last"""
_INVOICE = """INSERT INTO invoices (number, account_id, payment_id, currency, subtotal, tax, total, lines)
VALUES ($1, $2, $3, $4, $5, 0, $5, $6) RETURNING id"""
_SAVE_CARD = """INSERT INTO payment_customers (account_id, provider, customer_ref, payment_method, card_brand,
    card_last4) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (account_id, provider) DO UPDATE SET customer_ref = EXCLUDED.customer_ref,
    payment_method = CASE WHEN EXCLUDED.payment_method <> '' THEN EXCLUDED.payment_method
                          ELSE payment_customers.payment_method END,
    card_brand = coalesce(nullif(EXCLUDED.card_brand, ''), payment_customers.card_brand),
    card_last4 = coalesce(nullif(EXCLUDED.card_last4, ''), payment_customers.card_last4),
    updated_at = now()"""
_DUE = """
SELECT r.account_id, r.amount, c.customer_ref, c.payment_method, b.currency
FROM auto_topup_rules r
JOIN payment_customers c ON c.account_id = r.account_id AND c.provider = $1 AND c.payment_method <> ''
JOIN billing_customers b ON b.account_id = r.account_id
JOIN billing_ledger_accounts l ON l.id = b.available_id
WHERE r.enabled AND l.balance < r.threshold
  AND (r.last_failed_at IS NULL OR r.last_failed_at < now() - interval '1 hour')
  -- at most one charge per account in ten minutes, whatever became of it: a top-up too small to lift
  -- the balance above the threshold must not charge the card again and again
  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.account_id = r.account_id AND p.kind = 'auto_topup'
                  AND p.created_at > now() - interval '10 minutes')
"""


def _row(r: Any) -> PaymentRow:
    return PaymentRow(**{k: r[k] for k in r.keys()} | {"currency": r["currency"].strip()})


class Payments:
    def __init__(
        self, pool: asyncpg.Pool, provider: PaymentProvider | None, settings: PaymentsSettings
    ) -> None:
        self._pool = pool
        self.provider = provider
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.settled = 0

    def _require(self) -> PaymentProvider:
        if self.provider is None:
            raise NotConfigured("no payment provider is configured")
        return self.provider

    # ------------------------------------------------------------------------------------ checkout

    async def create_checkout(
        self,
        account_id: int,
        amount_minor: int,
        *,
        success_url: str = "",
        cancel_url: str = "",
        kind: str = "checkout",
        currency: str | None = None,
        description: str = "Prepaid messaging credit",
    ) -> PaymentRow:
        """A hosted checkout; `kind` says what settling it buys (the ledger wallet, or Xquik's credits
        and subscription, in `currency`: their price is in US dollars)."""
        provider = self._require()
        s = self.settings
        if not MIN_TOPUP_MINOR <= amount_minor <= MAX_TOPUP_MINOR:
            raise InvalidAmount(f"a top-up is between {MIN_TOPUP_MINOR} and {MAX_TOPUP_MINOR} minor units")
        async with self._pool.acquire() as conn:
            currency = currency or (await balance(conn, account_id)).currency
            customer = await conn.fetchval(
                "SELECT customer_ref FROM payment_customers WHERE account_id = $1 AND provider = $2",
                account_id, provider.name,
            )  # fmt: skip
        reference = f"acct{account_id}-{uuid.uuid4().hex[:16]}"
        checkout = await provider.create_checkout(
            amount_minor=amount_minor, currency=currency, description=description,
            reference=reference, customer_ref=customer, success_url=success_url or s.checkout_success_url,
            cancel_url=cancel_url or s.checkout_cancel_url,
            metadata={"account_id": str(account_id), "reference": reference},
        )  # fmt: skip
        row = await self._pool.fetchrow(
            """INSERT INTO payments (account_id, provider, kind, provider_ref, amount_minor, currency, url)
            VALUES ($1, $2, $7, $3, $4, $5, $6) RETURNING id, account_id, kind, provider_ref,
            amount_minor, currency, status, url, error, created_at, paid_at""",
            account_id, provider.name, checkout.ref, amount_minor, currency, checkout.url, kind,
        )  # fmt: skip
        return _row(row)

    async def charge_now(
        self, account_id: int, amount_minor: int, *, kind: str, currency: str
    ) -> tuple[str, PaymentRow | None, Charge | None]:
        """Charge the saved card now (the customer asked): ("no_payment_method" | "charged" |
        "requires_action" | "declined", the payment, the charge). A charge is settled here when it
        succeeds; one waiting for the customer settles when the provider says it was paid."""
        provider = self._require()
        saved = await self._pool.fetchrow(
            "SELECT customer_ref, payment_method FROM payment_customers"
            " WHERE account_id = $1 AND provider = $2 AND payment_method <> ''",
            account_id, provider.name,
        )  # fmt: skip
        if saved is None:
            return "no_payment_method", None, None
        placeholder = f"pending:{uuid.uuid4().hex}"
        payment_id = await self._pool.fetchval(
            """INSERT INTO payments (account_id, provider, kind, provider_ref, amount_minor, currency)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            account_id, provider.name, kind, placeholder, amount_minor, currency,
        )  # fmt: skip
        charge = await provider.charge_saved(
            amount_minor=amount_minor, currency=currency, customer_ref=saved["customer_ref"],
            payment_method=saved["payment_method"], idempotency_key=f"{kind}-{payment_id}",
            metadata={"account_id": str(account_id), "payment_id": str(payment_id)},
        )  # fmt: skip
        ref = charge.ref or placeholder
        await self._pool.execute("UPDATE payments SET provider_ref = $2 WHERE id = $1", payment_id, ref)
        if charge.succeeded:
            await self.settle(Paid(ref, saved["customer_ref"], saved["payment_method"]))
            outcome = "charged"
        elif charge.requires_action:
            outcome = "requires_action"
        else:
            await self.fail(ref, charge.error or "declined")
            outcome = "declined"
        return outcome, await self.payment(account_id, int(payment_id)), charge

    async def portal(self, account_id: int, return_url: str = "") -> str | None:
        """The provider's billing portal for the account's saved customer (None: it never paid)."""
        provider = self._require()
        customer = await self._pool.fetchval(
            "SELECT customer_ref FROM payment_customers WHERE account_id = $1 AND provider = $2",
            account_id, provider.name,
        )  # fmt: skip
        if not customer:
            return None
        return await provider.create_portal(
            customer_ref=customer, return_url=return_url or self.settings.checkout_success_url
        )

    async def payment_by_ref(self, account_id: int, provider_ref: str) -> PaymentRow | None:
        r = await self._pool.fetchrow(
            f"{_PAYMENT} WHERE provider_ref = $1 AND account_id = $2", provider_ref, account_id
        )
        return None if r is None else _row(r)

    async def payment(self, account_id: int, payment_id: int) -> PaymentRow | None:
        r = await self._pool.fetchrow(f"{_PAYMENT} WHERE id = $1 AND account_id = $2", payment_id, account_id)
        return None if r is None else _row(r)

    # ------------------------------------------------------------------------------------ settling

    async def handle_event(self, payload: bytes, signature: str | None) -> str:
        """Verify and apply one provider event; what it did ("settled", "failed", "ignored", ...)."""
        event = await self._require().parse_event(payload, signature)  # InvalidEvent: the caller's 400
        if isinstance(event, Paid):
            done = await self.settle(event)
            return "settled" if done else "already settled"
        if isinstance(event, Failed):
            await self.fail(event.ref, event.error)
            return "failed"
        assert isinstance(event, Ignored)
        return "ignored"

    async def settle(self, paid: Paid) -> bool:
        """Top up, invoice and keep the card for a paid payment; False if it was settled already."""
        provider = self._require()
        async with self._pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow(
                f"{_PAYMENT} WHERE provider = $1 AND provider_ref = $2 FOR UPDATE", provider.name, paid.ref
            )
            if r is None:
                log.warning("a paid event for no payment of ours", ref=paid.ref)
                return False
            p = _row(r)
            if p.status == "paid":
                return False
            key = f"payment:{provider.name}:{p.provider_ref}"
            if p.kind in xquik_credits.PAYMENT_KINDS:  # Xquik's credits / subscription (engine/xquik)
                what = await xquik_credits.settle_payment(conn, p.account_id, p.kind, p.amount_minor, key)
            else:
                await top_up(conn, p.account_id, from_minor(p.amount_minor, p.currency), key)
                what = "Prepaid messaging credit" + (" (auto top-up)" if p.kind == "auto_topup" else "")
            await conn.execute(
                "UPDATE payments SET status = 'paid', paid_at = now(), error = '' WHERE id = $1", p.id
            )
            year = datetime.now(UTC).year
            number = f"INV-{year}-{int(await conn.fetchval(_NEXT_NUMBER, year)):06d}"
            lines = [{"description": what, "quantity": 1, "unit_amount": p.amount_minor,
                      "amount": p.amount_minor}]  # fmt: skip
            await conn.fetchval(_INVOICE, number, p.account_id, p.id, p.currency, p.amount_minor,
                                msgspec.json.encode(lines).decode())  # fmt: skip
            if paid.customer_ref:
                await conn.execute(_SAVE_CARD, p.account_id, provider.name, paid.customer_ref,
                                   paid.payment_method, paid.card_brand, paid.card_last4)  # fmt: skip
        self.settled += 1
        log.info("payment settled", account=p.account_id, amount_minor=p.amount_minor, invoice=number)
        return True

    async def fail(self, ref: str, error: str) -> None:
        provider = self._require()
        account = await self._pool.fetchval(
            """UPDATE payments SET status = CASE WHEN $3 LIKE '%expired%' THEN 'expired' ELSE 'failed' END,
            error = $3 WHERE provider = $1 AND provider_ref = $2 AND status = 'open' RETURNING account_id""",
            provider.name, ref, error[:500],
        )  # fmt: skip
        if account is not None:
            await self._pool.execute(
                "UPDATE auto_topup_rules SET last_error = $2, last_failed_at = now() WHERE account_id = $1",
                account, error[:500],
            )  # fmt: skip

    # ---------------------------------------------------------------------------------- auto top-up

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self.provider is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="auto-topup")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.provider is not None:
            await self.provider.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.auto_topup_pass()
            except (asyncpg.PostgresError, OSError, PaymentError) as exc:
                log.warning("auto top-up pass failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.auto_topup_interval):
                    await self._wake.wait()
            self._wake.clear()

    async def auto_topup_pass(self) -> int:
        """Charge every account due for an auto top-up; how many charges succeeded."""
        provider = self._require()
        succeeded = 0
        for due in await self._pool.fetch(_DUE, provider.name):
            account, currency = int(due["account_id"]), due["currency"].strip()
            amount_minor = max(1, to_minor(int(due["amount"]), currency, round_up=False))
            placeholder = f"pending:{uuid.uuid4().hex}"
            payment_id = await self._pool.fetchval(
                """INSERT INTO payments (account_id, provider, kind, provider_ref, amount_minor, currency)
                VALUES ($1, $2, 'auto_topup', $3, $4, $5) RETURNING id""",
                account, provider.name, placeholder, amount_minor, currency,
            )  # fmt: skip
            charge = await provider.charge_saved(
                amount_minor=amount_minor, currency=currency, customer_ref=due["customer_ref"],
                payment_method=due["payment_method"], idempotency_key=f"auto-topup-{payment_id}",
                metadata={"account_id": str(account), "payment_id": str(payment_id)},
            )  # fmt: skip
            ref = charge.ref or placeholder
            await self._pool.execute("UPDATE payments SET provider_ref = $2 WHERE id = $1", payment_id, ref)
            if charge.succeeded:
                await self.settle(Paid(ref, due["customer_ref"], due["payment_method"]))
                await self._pool.execute(
                    "UPDATE auto_topup_rules SET last_error = '', last_failed_at = NULL"
                    " WHERE account_id = $1",
                    account,
                )
                succeeded += 1
            else:
                await self.fail(ref, charge.error or "declined")
        return succeeded
