-- Contacts, groups, campaigns and campaign recipients. The campaign runner (engine/campaigns.py) reads
-- campaigns and campaign_recipients; opt-outs stay in the engine's opt_outs table.

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

CREATE TABLE campaigns (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    name          text NOT NULL,
    source        text NOT NULL,
    body          text NOT NULL,
    send_rate     double precision NOT NULL CHECK (send_rate > 0),  -- messages per second, at most
    state         text NOT NULL DEFAULT 'draft'
                  CHECK (state IN ('draft', 'scheduled', 'sending', 'paused', 'completed', 'cancelled', 'failed')),
    scheduled_at  timestamptz,
    sandbox       boolean NOT NULL DEFAULT false,   -- created with a test key: its messages are sandbox ones
    reason        text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX campaigns_account ON campaigns (account_id, id);
CREATE INDEX campaigns_active ON campaigns (id) WHERE state IN ('scheduled', 'sending');

-- One row per destination of a campaign (a number added twice is sent once). `pending` until the runner
-- releases it; `released` once its message is durably accepted (message_id set); `rejected` when the
-- accept path refused it (code and reason) or the campaign was cancelled first.
CREATE TABLE campaign_recipients (
    campaign_id  bigint NOT NULL REFERENCES campaigns ON DELETE CASCADE,
    seq          integer NOT NULL,
    destination  text NOT NULL,                    -- E.164 digits without '+', as messages.destination
    variables    jsonb NOT NULL DEFAULT '{}',
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'released', 'rejected')),
    code         text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    message_id   bigint,
    released_at  timestamptz,
    PRIMARY KEY (campaign_id, seq),
    UNIQUE (campaign_id, destination)
);
CREATE INDEX campaign_recipients_pending ON campaign_recipients (campaign_id, seq) WHERE state = 'pending';

-- Progress counts, and the runner's check after a restart that a pending recipient has no message yet
-- (a message committed just before a crash, its recipient not yet marked released, is never sent twice).
CREATE INDEX messages_campaign ON messages (campaign_id, destination) WHERE campaign_id IS NOT NULL;
