-- The unified social inbox (engine/social/inbox/): DMs, comments (replies to the account's posts) and
-- mentions of connected accounts, polled with stored cursors. A polled page's new items, the stream's
-- cursor and the webhook rows of the new items commit in one transaction; (social_account_id, kind,
-- item_id) is unique, so an item is stored and announced once whatever a restart replays.
CREATE TABLE social_inbox (
    id                 bigserial PRIMARY KEY,
    account_id         bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    social_account_id  bigint NOT NULL REFERENCES social_accounts ON DELETE CASCADE,
    platform           text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('dm', 'comment', 'mention')),
    item_id            text NOT NULL,        -- the platform's id of the post or DM event
    conversation_id    text,                 -- DM conversation, or the thread's root post
    post_id            text,                 -- comments: the account's post they answer
    in_reply_to        text,
    author_id          text NOT NULL,
    author_username    text,
    direction          text NOT NULL DEFAULT 'in' CHECK (direction IN ('in', 'out')),
    text               text NOT NULL,
    created_at         timestamptz,          -- when the platform says it was written
    received_at        timestamptz NOT NULL DEFAULT now(),
    read_at            timestamptz,
    hidden             boolean NOT NULL DEFAULT false,
    liked              boolean NOT NULL DEFAULT false,
    deleted_at         timestamptz,
    UNIQUE (social_account_id, kind, item_id)
);
CREATE INDEX social_inbox_account ON social_inbox (account_id, kind, id DESC);
CREATE INDEX social_inbox_conversation ON social_inbox (social_account_id, conversation_id, id);

-- Where each inbound stream of an account stands: the connector's opaque cursor (engine/social/cursors.py),
-- stored after every page in the transaction that stores the page's items.
CREATE TABLE social_cursors (
    social_account_id  bigint NOT NULL REFERENCES social_accounts ON DELETE CASCADE,
    stream             text NOT NULL,
    cursor             text,
    polled_at          timestamptz,
    PRIMARY KEY (social_account_id, stream)
);
