-- Webhooks (endpoints, the outbox of deliveries, every attempt) and message templates.

-- A customer's endpoint. `secret` signs every request (shown once, at creation); `active` goes false
-- after a delivery exhausted its retries, with the reason in `inactive_reason`.
CREATE TABLE webhooks (
    id               bigserial PRIMARY KEY,
    account_id       bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    url              text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    events           text[] NOT NULL CHECK (cardinality(events) > 0),
    description      text NOT NULL DEFAULT '',
    secret           text NOT NULL,
    active           boolean NOT NULL DEFAULT true,
    inactive_reason  text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_account ON webhooks (account_id, id);
-- emit_events looks up the active webhooks of the accounts in a batch: the hot path's only query.
CREATE INDEX webhooks_active ON webhooks (account_id) WHERE active;

-- The outbox: one row per (event, subscribed webhook), inserted in the transaction of the state change
-- that caused the event, delivered at least once. `uuid` is X-Webhook-Id and the body's "id".
CREATE TABLE webhook_deliveries (
    id            bigserial PRIMARY KEY,
    uuid          uuid NOT NULL DEFAULT gen_random_uuid(),
    webhook_id    bigint NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    account_id    bigint NOT NULL,
    event         text NOT NULL,
    data          jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    next_attempt  timestamptz NOT NULL DEFAULT now(),  -- also a lease while an attempt is in flight
    last_error    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id);

-- The delivery log: every attempt, what the endpoint answered and how long it took.
CREATE TABLE webhook_attempts (
    delivery_id  bigint NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text NOT NULL DEFAULT '',
    duration_ms  integer NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

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
