-- Operators: the engine's own staff, who log into the dashboard. Not customers: an operator belongs to
-- no account and has no API key; customers' users never log in here.
CREATE TABLE operators (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    password_hash  text NOT NULL,               -- scrypt, as SMPP credentials (engine/customers/credentials.py)
    enabled        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz
);
