-- Social jobs: posts, replies, DMs and moderation actions on connected platform accounts, as a job
-- kind of the one dispatch loop (engine/social/jobs/). A row is written by the accept path's group commit
-- (the same transaction as SMS rows and the ledger's hold), marked 'sending' before each job goes out
-- (engine/dispatch/marks.py: `owner`, `attempts`), and made final by the social outcome sink with its
-- money settled in the same transaction. Money columns are those of every job kind (engine/core/job_schema.py)
-- so `smsengine ledger check` reconciles these rows against the batched postings: `platform` is the
-- posting's carrier, country is NULL.
CREATE TABLE social_jobs (
    id                 bigint PRIMARY KEY,
    account_id         bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    social_account_id  bigint NOT NULL REFERENCES social_accounts ON DELETE CASCADE,
    platform           text NOT NULL,
    action             text NOT NULL,
    params             jsonb NOT NULL,
    lane               text NOT NULL,
    -- scheduled -> queued -> sending -> succeeded | failed | canceled
    status             text NOT NULL CHECK (status IN ('scheduled', 'queued', 'sending', 'succeeded',
                                                       'failed', 'canceled')),
    attempts           integer NOT NULL DEFAULT 0,
    possible_duplicate boolean NOT NULL DEFAULT false,
    owner              integer,
    scheduled_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    final_at           timestamptz,
    result             jsonb,
    error_code         text,
    error              text NOT NULL DEFAULT '',
    idempotency_key    text,
    client_ref         text,
    tag                text,      -- a caller's grouping (a bulk request, a surface's own object)
    retry_of           bigint REFERENCES social_jobs ON DELETE SET NULL,
    amount             bigint NOT NULL DEFAULT 0 CHECK (amount >= 0),
    money              text NOT NULL DEFAULT 'none'
                       CHECK (money IN ('none', 'reserved', 'captured', 'released', 'refunded')),
    country            text,
    carrier            text,
    reserve_batch      bigint,
    settle_batch       bigint,
    refund_batch       bigint
);
CREATE UNIQUE INDEX social_jobs_idempotency ON social_jobs (account_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX social_jobs_account ON social_jobs (account_id, id DESC);
CREATE INDEX social_jobs_open ON social_jobs (id) WHERE final_at IS NULL;
CREATE INDEX social_jobs_tag ON social_jobs (account_id, tag) WHERE tag IS NOT NULL;

-- A customer account's own price of a social action (micro-units of its currency); an action without
-- a row costs the deployment's default (settings social.prices).
CREATE TABLE social_prices (
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    action      text NOT NULL,
    amount      bigint NOT NULL CHECK (amount >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, action)
);
