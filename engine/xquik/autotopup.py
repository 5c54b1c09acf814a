"""Xquik auto top-up: when a capture leaves the credit balance under the account's threshold (rule on,
table xquik_accounts; set by PUT /credits/auto-topup), charge the saved card for the rule's dollars.

Registered per pool by the engine when it has a payment provider (`install`); credits.capture calls it
after its transaction. At most one auto top-up charge per account in ten minutes, whatever became of
it (as engine/payments' own auto top-up); the credits land when the charge is settled (at once for a
card that needs no authentication). A failure is logged, never raised into the metered call.
"""

from __future__ import annotations

import asyncpg
import structlog

from engine.payments.provider import PaymentError
from engine.payments.service import Payments
from engine.xquik import credits

log = structlog.get_logger("engine.xquik")

# Claim the charge: one conditional UPDATE, so captures crossing the threshold at once charge once.
_CLAIM = """
UPDATE xquik_accounts SET auto_topup_claimed_at = now()
WHERE account_id = $1 AND auto_topup_enabled
  AND (auto_topup_claimed_at IS NULL OR auto_topup_claimed_at < now() - interval '10 minutes')
RETURNING auto_topup_amount_dollars
"""


def install(pool: asyncpg.Pool, payments: Payments) -> None:
    async def top_up(account_id: int) -> None:
        dollars = await pool.fetchval(_CLAIM, account_id)
        if dollars is None:
            return
        try:
            outcome, _, _ = await payments.charge_now(
                account_id, int(dollars) * 100, kind="xquik_auto_topup", currency="USD"
            )
        except (PaymentError, asyncpg.PostgresError, OSError) as exc:
            log.warning("xquik auto top-up failed", account=account_id, error=repr(exc))
            return
        log.info("xquik auto top-up", account=account_id, dollars=dollars, outcome=outcome)

    credits.set_auto_topup(pool, top_up)


def uninstall(pool: asyncpg.Pool) -> None:
    credits.set_auto_topup(pool, None)
