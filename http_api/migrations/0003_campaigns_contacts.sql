-- Contacts and groups (campaigns and their recipients moved to engine/migrations/0003_outbox_campaigns.sql;
-- opt-outs are the engine's opt_outs table).

CREATE TABLE contacts (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    phone       text NOT NULL,                    -- E.164 digits without '+'
    name        text NOT NULL DEFAULT '',
    email       text NOT NULL DEFAULT '',
    tags        text[] NOT NULL DEFAULT '{}',
    fields      jsonb NOT NULL DEFAULT '{}',      -- custom fields: a flat object of strings and numbers
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, phone)                    -- import upserts by phone
);
CREATE INDEX contacts_account ON contacts (account_id, id);
CREATE INDEX contacts_tags ON contacts USING gin (tags);

CREATE TABLE contact_groups (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);

CREATE TABLE contact_group_members (
    group_id    bigint NOT NULL REFERENCES contact_groups ON DELETE CASCADE,
    contact_id  bigint NOT NULL REFERENCES contacts ON DELETE CASCADE,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, contact_id)
);
CREATE INDEX contact_group_members_contact ON contact_group_members (contact_id);
