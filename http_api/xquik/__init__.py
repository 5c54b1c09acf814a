"""The Xquik surface (seed 002): `/xquik/api/v1/...` with `x-api-key: xq_...` keys.

    dialect.py         its auth (API key or identity session), error envelope {"error", "message"},
                       camelCase bases, cursor pages (hasMore / nextCursor), `xquik_error`
    metering.py        `metered(call, credits, kind)` / `charge_call`: calls paid in credits
    mount.py           ROUTE_MODULES: the surface's route modules (one line each), its 404
    routes_account.py  /account, /account/x-identity, /credits
    routes_keys.py     /api-keys (session auth only)
    routes_credits.py  /credits/topup (+ /status, /redirect), /credits/quick-topup, /credits/auto-topup,
                       /subscribe: through the payments service
    routes_support.py  /support/tickets

Credits are engine/xquik/credits.py (a currency of the one ledger); keys live in the one key store
(api_keys) with their document-facing rows in xquik_api_keys; payments go through engine/payments.
"""
