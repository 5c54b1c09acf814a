-- Campaign approval (draft -> pending_approval -> approved | rejected) and sender IDs checked at send time.

-- An account trusted to skip campaign approval: its submitted campaigns are approved at once.
ALTER TABLE accounts
    ADD COLUMN campaigns_trusted boolean NOT NULL DEFAULT false,
    -- Sends (HTTP and SMPP) must use one of the account's approved sender IDs (engine/senders).
    ADD COLUMN sender_ids_required boolean NOT NULL DEFAULT false;

ALTER TABLE campaigns DROP CONSTRAINT IF EXISTS campaigns_state_check;
-- 'scheduled' was "waiting for its time"; an approved campaign with a future scheduled_at is that now.
UPDATE campaigns SET state = 'approved' WHERE state = 'scheduled';
ALTER TABLE campaigns
    ADD CONSTRAINT campaigns_state_check CHECK (state IN ('draft', 'pending_approval', 'approved', 'rejected',
        'sending', 'paused', 'completed', 'cancelled', 'failed')),
    ADD COLUMN reviewed_by text NOT NULL DEFAULT '',    -- "operator", or the approving API key
    ADD COLUMN reviewed_at timestamptz;
DROP INDEX IF EXISTS campaigns_active;
CREATE INDEX campaigns_active ON campaigns (id) WHERE state IN ('approved', 'sending');

-- Sender IDs an account asked for: pending until the operator approves or rejects them.
CREATE TABLE sender_ids (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    sender       text NOT NULL CHECK (length(sender) BETWEEN 1 AND 15),
    kind         text NOT NULL CHECK (kind IN ('alphanumeric', 'numeric')),
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    use_case     text NOT NULL DEFAULT '',
    countries    text[] NOT NULL DEFAULT '{}',
    reason       text NOT NULL DEFAULT '',               -- why it was rejected
    created_at   timestamptz NOT NULL DEFAULT now(),
    reviewed_at  timestamptz,
    UNIQUE (account_id, sender)
);
