-- The social-api document's workspace (seed 004, http_api/social_api/): brands and their invite tokens,
-- the plan that sets the media storage quota, the media library (files kept here, in PostgreSQL: every
-- node sees them and they are backed up with the rest), analytics exports, and the whitelist of OAuth
-- redirect URIs a connect may name.

-- A brand (workspace) of a customer account: connected accounts and BYOK apps may belong to one.
CREATE TABLE social_brands (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);

-- The brand a connected account was connected for (NULL: the whole workspace); an authorization in
-- flight remembers it until its callback.
ALTER TABLE social_accounts ADD COLUMN brand_id bigint REFERENCES social_brands ON DELETE SET NULL;
ALTER TABLE social_oauth_states ADD COLUMN brand_id bigint REFERENCES social_brands ON DELETE CASCADE;

-- An invite to a brand: only the SHA-256 of its token is kept; past expires_at it is gone (410).
CREATE TABLE social_invites (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    brand_id     bigint NOT NULL REFERENCES social_brands ON DELETE CASCADE,
    email        text NOT NULL DEFAULT '',
    role         text NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX social_invites_account ON social_invites (account_id, id);

-- A customer account's plan on this surface; storage_quota_bytes, when set, is the operator's override
-- of the plan's quota.
CREATE TABLE social_workspaces (
    account_id           bigint PRIMARY KEY REFERENCES accounts ON DELETE CASCADE,
    plan                 text NOT NULL DEFAULT 'free',
    storage_quota_bytes  bigint CHECK (storage_quota_bytes >= 0),
    pending_plan         text,
    pending_payment_id   bigint REFERENCES payments ON DELETE SET NULL,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- A media library file. 'pending': announced by GET /media/upload-url, its bytes not yet PUT or not
-- yet verified (counted against the quota at its announced size, swept after expires_at); 'ready':
-- usable. `content` is NULL until the bytes came.
CREATE TABLE social_media (
    id                 bigserial PRIMARY KEY,
    account_id         bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    brand_id           bigint REFERENCES social_brands ON DELETE SET NULL,
    filename           text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    content_type       text NOT NULL,
    size_bytes         bigint NOT NULL CHECK (size_bytes >= 0),
    sha256             text NOT NULL DEFAULT '',
    status             text NOT NULL CHECK (status IN ('pending', 'ready')),
    upload_token_hash  bytea,
    content            bytea,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz,
    verified_at        timestamptz
);
CREATE INDEX social_media_account ON social_media (account_id, id DESC);

-- An analytics export of one connected account: what it published in [from, to), written once.
CREATE TABLE social_exports (
    id                 bigserial PRIMARY KEY,
    account_id         bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    social_account_id  bigint NOT NULL REFERENCES social_accounts ON DELETE CASCADE,
    status             text NOT NULL CHECK (status IN ('processing', 'completed', 'failed')),
    from_at            timestamptz,
    to_at              timestamptz,
    rows               jsonb NOT NULL DEFAULT '[]',
    created_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz
);
CREATE INDEX social_exports_account ON social_exports (account_id, id DESC);

-- The redirect URIs a POST /accounts/connect may name (none listed: any http(s) URI).
CREATE TABLE social_redirect_uris (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    uri         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, uri)
);
