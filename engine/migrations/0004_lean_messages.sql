-- The lean lifecycle (engine/core/lifecycle.py): one row per message, written once at accept and
-- updated in place (HOT) as it moves; no part rows, no event rows, no per-message ledger rows.
--
-- * parts: every segment as it goes to the carrier, in one bytea (engine/core/parts.py), instead of
--   a message_parts row each;
-- * money: the message's own amount and where it stands (reserved -> captured | released, captured ->
--   refunded), with the ledger batches that moved it: the ledger posts one posting per batch and group
--   (billing/items.py) and `smsengine ledger check` proves every posting equals the sum of its messages;
-- * carrier ids and per-part status on the row; the receipt's stat/err/network error of the final one;
--   submitted_at and final_at (with created_at) are the message's history, instead of event rows.
ALTER TABLE messages
    ADD COLUMN parts          bytea,
    ADD COLUMN amount         bigint NOT NULL DEFAULT 0 CHECK (amount >= 0),
    ADD COLUMN money          text NOT NULL DEFAULT 'none'
                              CHECK (money IN ('none', 'reserved', 'captured', 'released', 'refunded')),
    ADD COLUMN reserve_batch  bigint,
    ADD COLUMN settle_batch   bigint,
    ADD COLUMN refund_batch   bigint,
    ADD COLUMN carrier        text,
    ADD COLUMN carrier_ids    text[],
    ADD COLUMN part_status    text[],
    ADD COLUMN submitted_at   timestamptz,
    ADD COLUMN receipt_stat   text NOT NULL DEFAULT '',
    ADD COLUMN receipt_err    text NOT NULL DEFAULT '',
    ADD COLUMN network_error  integer;

-- Every carrier message id we were given, and every receipt that came before (or without) its id:
-- the one place where a submit_sm_resp and a receipt meet, whichever comes first and on whichever bind
-- or node. Both sides INSERT ... ON CONFLICT on the primary key, so the second always sees the first
-- (the unique index serialises them) without any lock of our own. A receipt matched in memory, in the
-- same batch as its submit_sm_resp, writes no row at all.
CREATE TABLE carrier_keys (
    carrier        text NOT NULL,
    key            text COLLATE "C" NOT NULL,  -- the carrier id normalised by its format (id_formats.py)
    message_id     bigint,                     -- NULL: a receipt waiting for its submit_sm_resp
    part           smallint,
    receipt_state  smallint,                   -- NULL: no final receipt seen yet
    receipt_stat   text,
    receipt_err    text,
    network_error  integer,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (carrier, key)
) WITH (fillfactor = 80);

-- Engine processes: which node number each started with, its liveness, and how far it has dispatched.
-- A message id embeds its node; `dispatched_upto` is that node's durable dispatch watermark: a queued
-- message of the node with an id at or below it may have reached a carrier (engine/dispatch/marks.py).
CREATE TABLE engine_nodes (
    node             integer PRIMARY KEY CHECK (node BETWEEN 0 AND 1023),
    started_at       timestamptz NOT NULL DEFAULT now(),
    heartbeat_at     timestamptz NOT NULL DEFAULT now(),
    dispatched_upto  bigint NOT NULL DEFAULT 0,
    host             text NOT NULL DEFAULT '',
    pid              integer NOT NULL DEFAULT 0
);

-- Bring rows written before this migration along (databases of earlier versions).
UPDATE messages m SET
    parts = p.blob, carrier_ids = p.cids, part_status = p.statuses,
    carrier = coalesce(m.route[m.route_index + 1], m.route[1])
FROM (
    SELECT message_id,
           string_agg(
               set_byte('\x00'::bytea, 0, esm_class) || set_byte('\x00'::bytea, 0, data_coding)
               || set_byte('\x00'::bytea, 0, (CASE WHEN payload THEN 1 ELSE 0 END)
                                              | (CASE WHEN sar IS NOT NULL THEN 2 ELSE 0 END))
               || CASE WHEN sar IS NULL THEN ''::bytea
                       ELSE substring(int4send(sar[1]) FROM 3 FOR 2) || set_byte('\x00'::bytea, 0, sar[2])
                            || set_byte('\x00'::bytea, 0, sar[3]) END
               || substring(int4send(length(short_message)) FROM 3 FOR 2) || short_message,
               ''::bytea ORDER BY part) AS blob,
           array_agg(coalesce(carrier_message_id, '') ORDER BY part) AS cids,
           array_agg(status ORDER BY part) AS statuses
    FROM message_parts GROUP BY message_id
) p
WHERE m.id = p.message_id;

UPDATE messages m SET submitted_at = e.at
FROM (SELECT message_id, min(at) AS at FROM message_events WHERE status = 'submitted' GROUP BY 1) e
WHERE m.id = e.message_id;

-- Money of messages reserved one by one (billing_reservations) stays with those reservations: they keep
-- reserve_batch NULL and are settled through the per-message ledger API (engine/core/settlement.py).
UPDATE messages m SET amount = r.amount,
    money = CASE r.state WHEN 'open' THEN 'reserved' ELSE r.state END
FROM billing_reservations r
WHERE r.message_ref = lpad(to_hex(m.id), 16, '0');

INSERT INTO carrier_keys (carrier, key, message_id, part)
SELECT carrier, carrier_key, message_id, part FROM message_parts WHERE carrier_key IS NOT NULL
ON CONFLICT DO NOTHING;

INSERT INTO carrier_keys (carrier, key, receipt_state, receipt_stat, receipt_err, network_error, created_at)
SELECT carrier, carrier_key, state, stat, err, network_error, received_at FROM carrier_receipts
WHERE matched_message_id IS NULL
ON CONFLICT DO NOTHING;

DROP TABLE message_parts, message_events, carrier_receipts;

-- A receipt owed to a customer refers to its message: its body is read off the message row when it is
-- sent (only MO carries a body of its own). Ids come from the engine's id generator, so rows are written
-- with COPY; a delivery acknowledged by the customer is deleted.
ALTER TABLE deliveries ALTER COLUMN body DROP NOT NULL;
-- Only what is owed stays in the table (an acknowledged delivery is deleted), so the sweeper reads it
-- whole; the partial index on pending rows cost an index entry per receipt for nothing.
DROP INDEX deliveries_pending;
