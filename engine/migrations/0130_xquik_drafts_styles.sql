-- The Xquik surface's drafts and tweet style cache (seed 002, http_api/xquik/routes_drafts.py and
-- routes_styles.py).

-- A saved tweet draft of an account.
CREATE TABLE xquik_drafts (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    text        text NOT NULL,
    topic       text,
    goal        text CHECK (goal IN ('engagement', 'followers', 'authority', 'conversation')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX xquik_drafts_account ON xquik_drafts (account_id, id DESC);

-- A cached style: an X account's recent tweets (POST /styles) or a custom set of texts under a label
-- (PUT /styles/{username}). `key` is the lowercased name, one style per name and account.
CREATE TABLE xquik_styles (
    account_id      bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    key             text NOT NULL,
    x_username      text NOT NULL,
    is_own_account  boolean NOT NULL DEFAULT false,
    tweets          jsonb NOT NULL,   -- [{id, text, authorUsername, createdAt}]
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);
CREATE INDEX xquik_styles_fetched ON xquik_styles (account_id, fetched_at DESC);
