"""`smsengine ledger check` for the engine: the ledger's own checks, fed with the engine's messages.

The ledger (billing.check) proves its balances from its journal; what it cannot know by itself is which
messages exist. This module names them: every charged message is an item of the batched postings that
moved its money (billing.items), and messages reserved one by one before batched postings existed are
checked against their per-message reservations. This module must never write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.check import LedgerReport, check_ledger

if TYPE_CHECKING:
    from billing.db import Connection

# Messages reserved one by one (engine migration 0004 keeps them): their reservations stay open while they
# are not final. Ids are written as the engine writes refs. Xquik credit holds (engine/xquik/credits.py)
# are reserved one by one too: open while their work runs.
LEGACY_PENDING = """
SELECT lpad(to_hex(id), 16, '0') FROM messages
WHERE final_at IS NULL AND reserve_batch IS NULL AND money <> 'none'
UNION ALL
SELECT ledger_ref FROM xquik_credit_holds WHERE state = 'open'
"""

# Every message (SMS, and WhatsApp: engine/whatsapp/) and social job (engine/social/jobs/) whose money
# moved in batches, as the items of those batches; WhatsApp's ledger group names the pseudo-carrier
# 'whatsapp', a social job's its platform.
MESSAGE_ITEMS = """
SELECT lpad(to_hex(id), 16, '0'), account_id, amount, country, route[1], carrier, reserve_batch,
       CASE money WHEN 'released' THEN 'release' WHEN 'captured' THEN 'capture' WHEN 'refunded' THEN 'capture'
       END, settle_batch, refund_batch, final_at IS NOT NULL
FROM messages WHERE reserve_batch IS NOT NULL
UNION ALL
SELECT lpad(to_hex(id), 16, '0'), account_id, amount, country, 'whatsapp', 'whatsapp', reserve_batch,
       CASE money WHEN 'released' THEN 'release' WHEN 'captured' THEN 'capture' WHEN 'refunded' THEN 'capture'
       END, settle_batch, refund_batch, final_at IS NOT NULL
FROM whatsapp_messages WHERE reserve_batch IS NOT NULL
UNION ALL
SELECT lpad(to_hex(id), 16, '0'), account_id, amount, country, carrier, carrier, reserve_batch,
       CASE money WHEN 'released' THEN 'release' WHEN 'captured' THEN 'capture' WHEN 'refunded' THEN 'capture'
       END, settle_batch, refund_batch, final_at IS NOT NULL
FROM social_jobs WHERE reserve_batch IS NOT NULL
"""


async def check_engine_ledger(conn: Connection) -> LedgerReport:
    return await check_ledger(conn, LEGACY_PENDING, items=MESSAGE_ITEMS)
