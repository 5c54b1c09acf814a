"""The social-api document's surface (seed 004) under /v1: accounts, inbox, publishing, webhooks, events,
usage, keys and Twitter BYOK, each in its own route module, all answering errors in the document's
envelope (`common.DIALECT`, the operations' one error hook). Everything underneath is the engine's:
social jobs through the one dispatch loop (engine/social/jobs/), the unified inbox (engine/social/inbox/),
the one webhook store and system (engine/outbox/webhook_store.py, webhooks.py), the one key store
(api_keys) and the sealed BYOK app credentials."""
