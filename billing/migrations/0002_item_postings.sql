-- Batched postings for items held elsewhere (billing/items.py): one posting per (kind, batch, account,
-- country, carrier) group instead of one per message. `items` counts the items a posting moves; NULL for
-- a posting of one keyed item (a top-up, a per-message reservation). Usage counts items, not postings.
ALTER TABLE billing_postings ADD COLUMN items integer CHECK (items > 0);
