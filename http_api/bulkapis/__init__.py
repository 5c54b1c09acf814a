"""The BulkAPIs surface (seed 000): `/api/v1/...` with `Authorization: Bearer bulk_ak_...` keys.

    dialect.py        its envelope ({"success", "data"} / {"success": false, "error"}), codes, auth
    plans.py          memberships: yearly API call quota, Social Accounts packs, daily usage
    routes_keys.py    /api/v1/api-keys
    routes_webhooks.py /api/v1/webhooks (the one outbox, profile "bulkapis": X-BulkAPIs-* headers)
    routes_usage.py   /api/v1/usage

A thin adapter: keys live in the one key store (api_keys), webhooks in the one outbox
(engine/outbox/webhooks.py), social jobs in the engine's social job pipeline.
"""
