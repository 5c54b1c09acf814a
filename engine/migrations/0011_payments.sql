-- Payments through a provider (engine/payments): checkout sessions and off-session charges that top up
-- the ledger once paid, the invoices they produce, saved payment methods and auto top-up rules.

CREATE TABLE payments (
    id             bigserial PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    provider       text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('checkout', 'auto_topup')),
    provider_ref   text NOT NULL,                     -- checkout session id / payment intent id
    amount_minor   bigint NOT NULL CHECK (amount_minor > 0),
    currency       char(3) NOT NULL,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'failed', 'expired')),
    url            text NOT NULL DEFAULT '',          -- where the customer pays (checkout)
    error          text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    paid_at        timestamptz,
    UNIQUE (provider, provider_ref)
);
CREATE INDEX payments_account ON payments (account_id, id);

-- The customer and card a provider keeps for an account (saved at its first paid checkout).
CREATE TABLE payment_customers (
    account_id       bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    provider         text NOT NULL,
    customer_ref     text NOT NULL,
    payment_method   text NOT NULL DEFAULT '',
    card_brand       text NOT NULL DEFAULT '',
    card_last4       text NOT NULL DEFAULT '',
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, provider)
);

-- POST /v1/billing/auto-topup: below `threshold`, charge the saved card `amount` (micro-units).
CREATE TABLE auto_topup_rules (
    account_id      bigint PRIMARY KEY REFERENCES accounts ON DELETE CASCADE,
    enabled         boolean NOT NULL DEFAULT false,
    threshold       bigint NOT NULL CHECK (threshold >= 0),
    amount          bigint NOT NULL CHECK (amount > 0),
    last_error      text NOT NULL DEFAULT '',
    last_failed_at  timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One invoice per paid payment; numbers follow each other without gaps (issued in the settling
-- transaction, under the sequence's row lock).
CREATE TABLE invoice_numbers (year integer PRIMARY KEY, last integer NOT NULL);
CREATE TABLE invoices (
    id           bigserial PRIMARY KEY,
    number       text NOT NULL UNIQUE,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    payment_id   bigint NOT NULL UNIQUE REFERENCES payments,
    currency     char(3) NOT NULL,
    subtotal     bigint NOT NULL,                     -- minor units
    tax          bigint NOT NULL DEFAULT 0,
    total        bigint NOT NULL,
    status       text NOT NULL DEFAULT 'paid' CHECK (status IN ('paid', 'void')),
    lines        jsonb NOT NULL,                      -- [{description, quantity, unit_amount, amount}]
    issued_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_account ON invoices (account_id, id);
