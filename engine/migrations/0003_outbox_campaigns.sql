-- Tables the engine's own code writes and reads, moved here from http_api's migrations (each table
-- belongs to the package whose code owns it): the webhook outbox (engine/outbox/webhooks.py) and
-- campaigns with their recipients (engine/campaigns/runner.py). IF NOT EXISTS: databases migrated
-- before the move already have them from http_api/0002 and 0003.

-- Webhooks: endpoints, the outbox of deliveries, every attempt.
-- A customer's endpoint. `secret` signs every request (shown once, at creation); `active` goes false
-- after a delivery exhausted its retries, with the reason in `inactive_reason`.
CREATE TABLE IF NOT EXISTS webhooks (
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
CREATE INDEX IF NOT EXISTS webhooks_account ON webhooks (account_id, id);
-- emit_events looks up the active webhooks of the accounts in a batch: the hot path's only query.
CREATE INDEX IF NOT EXISTS webhooks_active ON webhooks (account_id) WHERE active;

-- The outbox: one row per (event, subscribed webhook), inserted in the transaction of the state change
-- that caused the event, delivered at least once. `uuid` is X-Webhook-Id and the body's "id".
CREATE TABLE IF NOT EXISTS webhook_deliveries (
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
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_attempt) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_log ON webhook_deliveries (webhook_id, id);

-- The delivery log: every attempt, what the endpoint answered and how long it took.
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id  bigint NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text NOT NULL DEFAULT '',
    duration_ms  integer NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);


CREATE TABLE IF NOT EXISTS campaigns (
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
CREATE INDEX IF NOT EXISTS campaigns_account ON campaigns (account_id, id);
CREATE INDEX IF NOT EXISTS campaigns_active ON campaigns (id) WHERE state IN ('scheduled', 'sending');

-- One row per destination of a campaign (a number added twice is sent once). `pending` until the runner
-- releases it; `released` once its message is durably accepted (message_id set); `rejected` when the
-- accept path refused it (code and reason) or the campaign was cancelled first.
CREATE TABLE IF NOT EXISTS campaign_recipients (
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
CREATE INDEX IF NOT EXISTS campaign_recipients_pending ON campaign_recipients (campaign_id, seq) WHERE state = 'pending';

-- Progress counts, and the runner's check after a restart that a pending recipient has no message yet
-- (a message committed just before a crash, its recipient not yet marked released, is never sent twice).
CREATE INDEX IF NOT EXISTS messages_campaign ON messages (campaign_id, destination) WHERE campaign_id IS NOT NULL;
