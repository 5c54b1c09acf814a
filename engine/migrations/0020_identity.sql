-- People who sign in (engine/identity/): users of an account, their sessions and refresh tokens,
-- single-use mailed tokens, the mail outbox, and the revocation log every engine process reads.

-- A user belongs to exactly one account. owner: opened the account; admin: everything the owner may
-- (keys, webhooks, approvals); member: sends and reads. Emails are unique whatever their case.
CREATE TABLE users (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id       bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    email            text NOT NULL,
    name             text NOT NULL DEFAULT '',
    role             text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    password_hash    text,                 -- Argon2id; NULL for a user who only signs in with Google
    email_verified   boolean NOT NULL DEFAULT false,
    oidc_issuer      text,
    oidc_subject     text,                 -- the provider's `sub`: stable where the address may change
    failed_logins    integer NOT NULL DEFAULT 0,
    locked_until     timestamptz,          -- sign-in refused until then (ACCOUNT_LOCKED)
    disabled_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (oidc_issuer, oidc_subject)
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_account ON users (account_id);

-- A session is one sign-in: the family of refresh tokens rotated from it. Revoking it (logout, a reused
-- refresh token, a password change) ends every token of the family, access tokens included (they carry
-- the session id and are checked against it).
CREATE TABLE user_sessions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX user_sessions_user ON user_sessions (user_id) WHERE revoked_at IS NULL;

-- Each refresh token issued (by its jti). used_at set: it was rotated; presenting it again is a reuse.
CREATE TABLE refresh_tokens (
    jti         uuid PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES user_sessions ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Mailed single-use tokens (password reset, e-mail verification): only their SHA-256 is kept.
CREATE TABLE user_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('reset_password', 'verify_email')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);

-- Mail waiting for the SMTP server: written in the transaction that made the token, sent by
-- engine/identity/mailer.py, retried until sent or discard_after. The body is emptied once sent.
CREATE TABLE mail_outbox (
    id              bigserial PRIMARY KEY,
    to_address      text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    discard_after   timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    sent_at         timestamptz,
    last_error      text
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;

-- The revocation log: every change that must end a cached credential (an API key revoked, changed or
-- deleted; a session revoked; a user changed) appends a row. Versions come from one counter row,
-- taken under its lock, so they are committed in order and a reader polling `version > seen` never
-- skips one (a bigserial would: a lower number can commit after a higher one was read).
CREATE TABLE identity_version (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  bigint NOT NULL
);
INSERT INTO identity_version VALUES (true, 0);

CREATE TABLE identity_revocations (
    version   bigint PRIMARY KEY,
    kind      text NOT NULL CHECK (kind IN ('key', 'session', 'user')),
    subject   text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION identity_revoke(p_kind text, p_subject text) RETURNS void LANGUAGE sql AS $$
    WITH v AS (UPDATE identity_version SET version = version + 1 RETURNING version)
    INSERT INTO identity_revocations (version, kind, subject) SELECT version, p_kind, p_subject FROM v;
$$;

-- Written by triggers, so that a change made anywhere (the API, the CLI, plain SQL) reaches the caches.
CREATE FUNCTION api_keys_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM identity_revoke('key', OLD.key);
    RETURN NULL;
END $$;
CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.permissions IS DISTINCT FROM NEW.permissions
          OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash OR OLD.live IS DISTINCT FROM NEW.live
          OR OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION api_keys_revoke();
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys FOR EACH ROW EXECUTE FUNCTION api_keys_revoke();

CREATE FUNCTION user_sessions_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM identity_revoke('session', OLD.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER user_sessions_changed AFTER UPDATE ON user_sessions FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at) EXECUTE FUNCTION user_sessions_revoke();
CREATE TRIGGER user_sessions_deleted AFTER DELETE ON user_sessions FOR EACH ROW
    EXECUTE FUNCTION user_sessions_revoke();

CREATE FUNCTION users_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM identity_revoke('user', OLD.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER users_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.disabled_at IS DISTINCT FROM NEW.disabled_at
          OR OLD.account_id IS DISTINCT FROM NEW.account_id OR OLD.email IS DISTINCT FROM NEW.email
          OR OLD.name IS DISTINCT FROM NEW.name OR OLD.email_verified IS DISTINCT FROM NEW.email_verified)
    EXECUTE FUNCTION users_revoke();
CREATE TRIGGER users_deleted AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION users_revoke();
