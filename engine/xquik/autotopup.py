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

_DUE = """
SELECT x.auto_topup_amount_dollars FROM xquik_accounts x
WHERE x.account_id = $1 AND x.auto_topup_enabled
  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.account_id = x.account_id AND p.kind = 'xquik_auto_topup'
                  AND p.created_at > now() - interval '10 minutes')
"""


def install(pool: asyncpg.Pool, payments: Payments) -> None:
    async def top_up(account_id: int) -> None:
        dollars = await pool.fetchval(_DUE, account_id)
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
