-- Message templates (the webhook tables moved to engine/migrations/0003_outbox_campaigns.sql).

-- Saved message bodies with {{variables}}; names are unique per account.
CREATE TABLE message_templates (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    body         text NOT NULL CHECK (length(body) BETWEEN 1 AND 50000),
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);
CREATE INDEX message_templates_account ON message_templates (account_id, id);
