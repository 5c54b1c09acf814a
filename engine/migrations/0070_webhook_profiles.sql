-- Webhook profiles (engine/outbox/profiles.py): one outbox, several documents' ways of signing and
-- retrying. `profile` says which (the BulkSMSRates one for every webhook made before); `name` is the
-- BulkAPIs document's descriptive name. A BulkAPIs delivery that exhausts its attempts is failed with
-- `dead_lettered_at` set (its dead-letter list) and the webhook stays active.
ALTER TABLE webhooks ADD COLUMN profile text NOT NULL DEFAULT 'bulksmsrates'
    CHECK (profile IN ('bulksmsrates', 'bulkapis'));
ALTER TABLE webhooks ADD COLUMN name text NOT NULL DEFAULT '' CHECK (length(name) <= 200);
CREATE INDEX webhooks_profile ON webhooks (account_id, profile, id);
ALTER TABLE webhook_deliveries ADD COLUMN dead_lettered_at timestamptz;
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (webhook_id, id) WHERE dead_lettered_at IS NOT NULL;
