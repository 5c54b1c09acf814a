"""The PostEverywhere bulk operations (seed 003): `POST /v1/posts/bulk` and `POST /v1/posts/retry-failed`,
also under /api/v1 (http_api/surfaces.py). Posts are social jobs of the engine (engine/social/jobs): one
job per (post, account), a post's jobs grouped by the tag `pe:<post_id>`.

    dialect.py       its error envelope {"error": {"code": "bulk_limit_exceeded", "message"}}, any key
    routes_posts.py  bulk create (201 / 207 / 422) and retry-failed (filters, 400 no_filter)
"""
