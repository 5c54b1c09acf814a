-- The BulkSMSRates surface's own tables (seed 001): bulk batches, account profiles, notification
-- preferences, contact tags.

-- A POST /v1/sms/bulk request: its messages carry batch_id = id; GET /v1/campaigns/{id} reads it back.
CREATE TABLE sms_batches (
    id              uuid PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    client_ref      text NOT NULL DEFAULT '',
    source          text NOT NULL,
    body            text NOT NULL,
    accepted        integer NOT NULL,
    rejected        integer NOT NULL,
    cost_estimate   bigint NOT NULL,                 -- micro-units, as accepted
    currency        char(3) NOT NULL,
    sandbox         boolean NOT NULL DEFAULT false,
    scheduled_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_batches_account ON sms_batches (account_id, created_at);
-- A batch's progress counts its messages: only batch and campaign messages carry a batch_id.
CREATE INDEX messages_batch ON messages (batch_id) WHERE batch_id <> '';

-- GET/PATCH /v1/settings/profile. One row per account, made on first write.
CREATE TABLE account_profiles (
    account_id    bigint PRIMARY KEY REFERENCES accounts ON DELETE CASCADE,
    display_name  text NOT NULL DEFAULT '',
    company       text NOT NULL DEFAULT '',
    email         text NOT NULL DEFAULT '',
    phone         text NOT NULL DEFAULT '',
    timezone      text NOT NULL DEFAULT 'UTC',
    country       text NOT NULL DEFAULT '',
    address       text NOT NULL DEFAULT '',        -- printed on invoices, as given
    vat_number    text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- GET/PATCH /v1/settings/notifications: which alerts the account wants, and where.
CREATE TABLE notification_preferences (
    account_id          bigint PRIMARY KEY REFERENCES accounts ON DELETE CASCADE,
    email               text NOT NULL DEFAULT '',
    low_balance         boolean NOT NULL DEFAULT true,
    webhook_failure     boolean NOT NULL DEFAULT true,
    campaign_finished   boolean NOT NULL DEFAULT false,
    invoice_issued      boolean NOT NULL DEFAULT true,
    weekly_report       boolean NOT NULL DEFAULT false,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Tags of an account's contacts: contacts.tags holds their names (filtered with a GIN index); this table
-- gives each name an id, so tags can be listed, created and deleted on their own.
CREATE TABLE contact_tags (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    color       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);
-- Tags already on contacts get their ids.
INSERT INTO contact_tags (account_id, name)
SELECT DISTINCT account_id, unnest(tags) FROM contacts ON CONFLICT DO NOTHING;
