-- Receipts owed to customers bound on the node that finalised their messages
-- (engine/outbox/forwarder.py): instead of a `deliveries` row per receipt (COPY, then DELETE once
-- acknowledged), the lifecycle commit writes one row per account of the batch naming its messages; the
-- node sends those receipts from memory and deletes the row when every one of them is acknowledged or
-- has become a `deliveries` row of its own (a refusal, no answer, the bind gone). A row still here
-- after the node stopped or died is turned into deliveries rows by recovery (engine/core/recovery.py):
-- its receipts go out again, at least once.
CREATE TABLE receipt_batches (
    id           bigint PRIMARY KEY,        -- the account's first delivery id in the batch (the engine's ids)
    node         integer NOT NULL,          -- the node holding them in memory
    message_ids  bigint[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- No index but the key: rows live for a round trip to the customer, so the table stays a few pages.
