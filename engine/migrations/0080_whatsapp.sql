-- WhatsApp Business over Meta's Cloud API (engine/whatsapp): connected business numbers, message
-- templates with Meta's approval states, the "whatsapp" job kind's rows, and the 24-hour customer
-- service windows opened by customers' inbound messages.

-- A business phone number of a WhatsApp Business Account (WABA), connected to one customer account.
-- Meta addresses it by phone_number_id; inbound events name it in value.metadata.phone_number_id.
CREATE TABLE whatsapp_accounts (
    id                    bigserial PRIMARY KEY,
    account_id            bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    waba_id               text NOT NULL,
    phone_number_id       text NOT NULL UNIQUE,
    display_phone_number  text NOT NULL,
    verified_name         text NOT NULL DEFAULT '',
    quality_rating        text NOT NULL DEFAULT 'GREEN',
    status                text NOT NULL DEFAULT 'CONNECTED',
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX whatsapp_accounts_account ON whatsapp_accounts (account_id, id);

-- Templates as Meta keeps them: one row per (name, language); only APPROVED ones can be sent.
CREATE TABLE whatsapp_templates (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    waba_id      text NOT NULL,
    name         text NOT NULL,
    language     text NOT NULL,
    category     text NOT NULL CHECK (category IN ('MARKETING', 'UTILITY', 'AUTHENTICATION')),
    status       text NOT NULL DEFAULT 'PENDING'
                 CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'PAUSED', 'DISABLED')),
    components   jsonb NOT NULL DEFAULT '[]',
    meta_id      text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name, language)
);
CREATE INDEX whatsapp_templates_meta ON whatsapp_templates (meta_id);

-- The "whatsapp" job kind (engine/dispatch/whatsapp.py). Money columns as every kind's
-- (engine/core/job_schema.py), so `smsengine ledger check` reconciles these rows with the postings.
CREATE TABLE whatsapp_messages (
    id                  bigint PRIMARY KEY,
    account_id          bigint NOT NULL REFERENCES accounts,
    phone_number_id     text NOT NULL,
    destination         text NOT NULL,                -- E.164 digits, no '+' (Meta's wa_id)
    type                text NOT NULL,                -- template | text
    template_name       text,
    template_language   text,
    category            text NOT NULL,                -- MARKETING | UTILITY | AUTHENTICATION | SERVICE
    payload             jsonb NOT NULL,               -- the Graph API request body
    status              text NOT NULL,
    owner               integer,
    attempts            integer NOT NULL DEFAULT 0,
    possible_duplicate  boolean NOT NULL DEFAULT false,
    wamid               text UNIQUE,
    client_ref          text,
    error_code          integer,
    reason              text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    submitted_at        timestamptz,
    delivered_at        timestamptz,
    read_at             timestamptz,
    final_at            timestamptz,
    currency            char(3) NOT NULL,
    country             text,
    amount              bigint NOT NULL DEFAULT 0,
    money               text NOT NULL DEFAULT 'none',
    reserve_batch       bigint,
    settle_batch        bigint,
    refund_batch        bigint,
    CHECK (status IN ('queued', 'sending', 'submitted', 'delivered', 'undeliverable', 'rejected',
                      'failed', 'expired'))
);
CREATE INDEX whatsapp_messages_account ON whatsapp_messages (account_id, id DESC);
CREATE INDEX whatsapp_messages_open ON whatsapp_messages (id) WHERE final_at IS NULL;

-- Statuses Meta reported for a wamid before our record of sending it had committed (the webhook can
-- overtake the send's own commit); applied and deleted when the wamid is written. Both sides take the
-- wamid's advisory lock, so neither misses the other.
CREATE TABLE whatsapp_early_statuses (
    wamid        text PRIMARY KEY,
    status       text NOT NULL,
    at           timestamptz NOT NULL,
    error_code   integer,
    reason       text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The customer service window: free-form messages may be sent to a customer only within 24 hours of
-- that customer's last inbound message to the business number.
CREATE TABLE whatsapp_conversations (
    phone_number_id   text NOT NULL,
    wa_id             text NOT NULL,
    account_id        bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    profile_name      text NOT NULL DEFAULT '',
    last_inbound_at   timestamptz NOT NULL,
    last_message      text NOT NULL DEFAULT '',
    inbound_count     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (phone_number_id, wa_id)
);
CREATE INDEX whatsapp_conversations_account ON whatsapp_conversations (account_id, last_inbound_at DESC);
