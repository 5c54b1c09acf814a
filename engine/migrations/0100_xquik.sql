-- The Xquik surface (seed 002, http_api/xquik/, engine/xquik/): its keys' own rows beside the one key
-- store, the credit record of an account (credits are the currency XQC of the one ledger, held by a
-- ledger customer of their own: engine/xquik/credits.py), the holds of metered work, and the payment
-- kinds that buy credits.

-- An Xquik API key: a single-token row of api_keys (secret_hash 'sha256:...', engine/admin/provision.py)
-- plus what the document shows of it: a numeric id, the visible prefix, when it was last used.
CREATE TABLE xquik_api_keys (
    id            bigserial PRIMARY KEY,
    key           text NOT NULL UNIQUE REFERENCES api_keys ON DELETE CASCADE,
    account_id    bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    prefix        text NOT NULL,                 -- 'xq_' and the first characters of the token
    last_used_at  timestamptz
);
CREATE INDEX xquik_api_keys_account ON xquik_api_keys (account_id, id);

-- An account's Xquik record: its credit ledger customer (billing_customers.account_id = ledger_id,
-- currency XQC), auto top-up rule, profile. No row: the account has no credit record (402 no_credits).
CREATE TABLE xquik_accounts (
    account_id                 bigint PRIMARY KEY REFERENCES accounts ON DELETE CASCADE,
    ledger_id                  bigint NOT NULL UNIQUE,
    plan                       text NOT NULL DEFAULT 'inactive' CHECK (plan IN ('active', 'inactive')),
    locale                     text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'tr', 'es')),
    x_username                 text,
    auto_topup_enabled         boolean NOT NULL DEFAULT false,
    auto_topup_amount_dollars  integer NOT NULL DEFAULT 10 CHECK (auto_topup_amount_dollars BETWEEN 10 AND 500),
    auto_topup_threshold       bigint NOT NULL DEFAULT 50000 CHECK (auto_topup_threshold >= 0),  -- credits
    created_at                 timestamptz NOT NULL DEFAULT now()
);

-- Credits held for metered work while it runs: one ledger reservation each (ledger_ref). `state` moves
-- with the ledger in the same transaction; `smsengine ledger check` names the open ones as pending.
CREATE TABLE xquik_credit_holds (
    ledger_ref   text COLLATE "C" PRIMARY KEY,   -- billing_reservations.message_ref
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    ref          text NOT NULL,                  -- the caller's reference (idempotency)
    kind         text NOT NULL,                  -- what the credits pay for: 'x.tweet', 'extraction', ...
    credits      bigint NOT NULL CHECK (credits >= 0),
    used         bigint CHECK (used >= 0),
    state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'captured', 'released')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    settled_at   timestamptz,
    UNIQUE (account_id, ref)
);
CREATE INDEX xquik_credit_holds_open ON xquik_credit_holds (account_id) WHERE state = 'open';

-- Payments that buy credits (settled into the credit ledger, engine/xquik/credits.py) and the
-- subscription checkout.
ALTER TABLE payments DROP CONSTRAINT payments_kind_check;
ALTER TABLE payments ADD CONSTRAINT payments_kind_check CHECK (kind IN (
    'checkout', 'auto_topup', 'xquik_credits', 'xquik_quick_topup', 'xquik_auto_topup', 'xquik_subscription'
));

-- Support tickets (POST/GET /support/tickets, .../{id}/messages): a subject, a status, the messages.
CREATE TABLE xquik_support_tickets (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    subject     text NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX xquik_support_tickets_account ON xquik_support_tickets (account_id, id);
CREATE TABLE xquik_support_messages (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES xquik_support_tickets ON DELETE CASCADE,
    author      text NOT NULL CHECK (author IN ('user', 'support')),
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX xquik_support_messages_ticket ON xquik_support_messages (ticket_id, id);
