-- The prepaid double-entry ledger. Amounts are bigint micro-units (1 unit = 1,000,000).
-- Account ids are the engine's; there is deliberately no foreign key to engine tables (billing applies
-- before engine and knows nothing of it).

-- One row per ledger account, with its balance cached: the sum of credits minus debits of its postings,
-- kept in the same transaction as the postings. Customers have 'available' and 'reserved'; each currency
-- has one system 'topup' source and a few 'revenue' stripes (owner NULL).
CREATE TABLE billing_ledger_accounts (
    id        bigserial PRIMARY KEY,
    owner     bigint,
    kind      text NOT NULL CHECK (kind IN ('available', 'reserved', 'revenue', 'topup')),
    currency  char(3) NOT NULL,
    -- Revenue is split into stripes (customers spread over them by account id) so that concurrent capture
    -- batches of different accounts do not queue on one row lock held until each commit.
    stripe    smallint NOT NULL DEFAULT 0,
    balance   bigint NOT NULL DEFAULT 0,
    -- The lowest balance allowed: -credit_limit for 'available', 0 for 'reserved', NULL (unbounded) for
    -- system accounts. The CHECK makes "never below the credit limit" hold whatever code writes here.
    floor     bigint,
    CONSTRAINT billing_ledger_accounts_floor CHECK (floor IS NULL OR balance >= floor),
    CONSTRAINT billing_ledger_accounts_key UNIQUE NULLS NOT DISTINCT (owner, kind, currency, stripe)
);

-- A customer of the ledger: its sub-accounts and policies.
CREATE TABLE billing_customers (
    account_id            bigint PRIMARY KEY,
    currency              char(3) NOT NULL,
    available_id          bigint NOT NULL REFERENCES billing_ledger_accounts (id),
    reserved_id           bigint NOT NULL REFERENCES billing_ledger_accounts (id),
    revenue_id            bigint NOT NULL REFERENCES billing_ledger_accounts (id),
    topup_id              bigint NOT NULL REFERENCES billing_ledger_accounts (id),
    low_threshold         bigint,
    refund_undeliverable  boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now()
);

-- The journal: every movement is one balanced posting, debiting one ledger account and crediting another
-- of the same currency by the same amount (a two-legged transfer, as TigerBeetle stores them). (key, kind)
-- is the idempotency key: the message ref (or top-up key) and what the posting does.
-- No foreign keys here on purpose: they cost a trigger per row on the hot path; check_ledger verifies them.
CREATE TABLE billing_postings (
    id          bigserial NOT NULL,
    key         text COLLATE "C" NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('reserve', 'capture', 'release', 'refund', 'topup')),
    account_id  bigint NOT NULL,
    debit_id    bigint NOT NULL,
    credit_id   bigint NOT NULL,
    amount      bigint NOT NULL CHECK (amount >= 0),
    currency    char(3) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    country     text,
    carrier     text,
    segments    integer,
    cost        bigint,
    -- The idempotency key is the primary key, kind first: a capture's entry then lands among other
    -- captures rather than beside its message's reserve entry in a leaf page the reserves already filled
    -- (which would split). id (ever growing) orders history and is indexed with the account only: one
    -- index fewer per posting on the accept path.
    CONSTRAINT billing_postings_idempotency PRIMARY KEY (kind, key)
);
-- History (newest first, cursor on id) and usage summaries scan one account's postings.
CREATE INDEX billing_postings_account ON billing_postings (account_id, id);

-- Keys are opaque identifiers, compared byte-wise (COLLATE "C"): a locale-aware collation made every
-- index insert and sort on them several times slower, for an order nobody reads.

-- One row per reserved message: what is held for it and where it stands.
CREATE TABLE billing_reservations (
    message_ref  text COLLATE "C" PRIMARY KEY,
    account_id   bigint NOT NULL,
    amount       bigint NOT NULL CHECK (amount >= 0),
    state        text NOT NULL CHECK (state IN ('open', 'captured', 'released', 'refunded')),
    segments     integer,
    country      text,
    carrier      text,
    cost         bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);
-- fillfactor 50: every reservation is updated once (capture or release), and room on its page lets that be
-- a HOT update, with no new index entry.
