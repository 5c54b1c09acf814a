-- Connected social platform accounts, their sealed tokens, customers' own platform apps (BYOK), and
-- OAuth authorizations in flight (engine/social/accounts/store.py). Secrets are stored only sealed
-- (AES-256-GCM, engine/social/accounts/sealing.py): `*_key_id` names the key that sealed the blob beside
-- it, so keys rotate row by row.

-- A customer's own developer app on a platform (seed 004 "Twitter BYOK"): its OAuth client id and the
-- sealed client secret. `brand` is '' for the whole workspace, or a brand id for a brand-level app.
CREATE TABLE social_app_credentials (
    id                    bigserial PRIMARY KEY,
    account_id            bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    platform              text NOT NULL,
    brand                 text NOT NULL DEFAULT '',
    client_id             text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 512),
    client_secret_key_id  text NOT NULL,
    client_secret         bytea NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, platform, brand)
);

-- One connected platform account of a customer account. `state`: active, needs_reauth (a refresh
-- failed for good: the user must connect again; ACCOUNT_NEEDS_REAUTH), disconnected (removed by the
-- customer; kept so jobs and inbox rows still name it). `credentials` is the sealed token set (JSON);
-- `access_expires_at` repeats its expiry in clear so due refreshes can be found without unsealing.
-- `app_credentials_id`: the customer's own app the tokens were granted to (NULL: the default app).
CREATE TABLE social_accounts (
    id                  bigserial PRIMARY KEY,
    account_id          bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    platform            text NOT NULL,
    platform_user_id    text NOT NULL,
    username            text NOT NULL,
    display_name        text NOT NULL DEFAULT '',
    scopes              text[] NOT NULL DEFAULT '{}',
    service_url         text NOT NULL DEFAULT '',
    state               text NOT NULL DEFAULT 'active'
                        CHECK (state IN ('active', 'needs_reauth', 'disconnected')),
    state_reason        text NOT NULL DEFAULT '',
    credentials_key_id  text NOT NULL,
    credentials         bytea NOT NULL,
    access_expires_at   timestamptz,
    app_credentials_id  bigint REFERENCES social_app_credentials ON DELETE SET NULL,
    refreshed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, platform, platform_user_id)
);
CREATE INDEX social_accounts_account ON social_accounts (account_id, id);

-- An OAuth 2.0 authorization started and not yet finished: `state` is the random value in the
-- authorize URL, the PKCE code_verifier is sealed. A callback consumes its row (DELETE ... RETURNING),
-- so a code is exchanged at most once; rows past expires_at are refused and swept.
CREATE TABLE social_oauth_states (
    state                 text PRIMARY KEY,
    account_id            bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    platform              text NOT NULL,
    redirect_uri          text NOT NULL,
    scopes                text[] NOT NULL,
    app_credentials_id    bigint REFERENCES social_app_credentials ON DELETE CASCADE,
    code_verifier_key_id  text NOT NULL,
    code_verifier         bytea NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL
);
CREATE INDEX social_oauth_states_expiry ON social_oauth_states (expires_at);
