-- Xquik's data products (seed 002; engine/xquik/draws, engine/xquik/extractions, engine/xquik/media.py):
-- giveaway draws with every entry and the seed that picked the winners, extraction jobs with their
-- resume cursor and rows, and downloaded media with its galleries.

-- A draw: the tweet as it was when drawn, the options, the seed (winners re-derivable from it and the
-- entries: engine/xquik/draws/pick.py).
CREATE TABLE xquik_draws (
    id                     bigserial PRIMARY KEY,
    account_id             bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    tweet_id               text NOT NULL,
    tweet_url              text NOT NULL,
    tweet_text             text NOT NULL DEFAULT '',
    tweet_author_username  text NOT NULL DEFAULT '',
    tweet_like_count       integer NOT NULL DEFAULT 0,
    tweet_retweet_count    integer NOT NULL DEFAULT 0,
    tweet_reply_count      integer NOT NULL DEFAULT 0,
    tweet_quote_count      integer NOT NULL DEFAULT 0,
    status                 text NOT NULL CHECK (status IN ('completed', 'failed')),
    total_entries          integer NOT NULL DEFAULT 0,
    valid_entries          integer NOT NULL DEFAULT 0,
    options                jsonb NOT NULL,
    seed                   text NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    drawn_at               timestamptz
);
CREATE INDEX xquik_draws_account ON xquik_draws (account_id, id DESC);

-- Every reply the draw read, valid or not (and why not), with its place among the winners or backups.
CREATE TABLE xquik_draw_entries (
    draw_id          bigint NOT NULL REFERENCES xquik_draws ON DELETE CASCADE,
    seq              integer NOT NULL,      -- the order the entries were read in (oldest reply first)
    tweet_id         text NOT NULL,
    author_id        text NOT NULL,
    author_username  text NOT NULL,
    data             jsonb NOT NULL,        -- the entry's columns as exported
    valid            boolean NOT NULL,
    reason           text,                  -- why an entry is not valid
    position         integer,               -- 1.. among winners then backups
    is_backup        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (draw_id, seq)
);
CREATE INDEX xquik_draw_entries_picked ON xquik_draw_entries (draw_id, position) WHERE position IS NOT NULL;

-- An extraction job, polled by the engine (engine/xquik/extractions/runner.py): a node leases it
-- (lease_owner, lease_until), reads one page of X at a time and commits the page's rows together with
-- the next cursor and the count, so a job whose node died resumes from `cursor` without repeating rows.
-- The credits of the estimate are held at creation (hold_ref, engine/xquik/credits.py) and captured for
-- results_count when it ends, the rest released, in the transaction that makes the job final.
CREATE TABLE xquik_extractions (
    id              uuid PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    tool_type       text NOT NULL,
    params          jsonb NOT NULL,
    status          text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'canceled')),
    results_limit   integer NOT NULL,
    cursor          text,                   -- the X pagination token of the next page; NULL: first page
    pages           integer NOT NULL DEFAULT 0,
    results_count   integer NOT NULL DEFAULT 0,
    credits_held    bigint NOT NULL DEFAULT 0,
    credits_charged bigint,
    hold_ref        text,
    error_code      text,
    lease_owner     text,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
CREATE INDEX xquik_extractions_account ON xquik_extractions (account_id, created_at DESC, id);
CREATE INDEX xquik_extractions_running ON xquik_extractions (lease_until) WHERE status = 'running';

CREATE TABLE xquik_extraction_rows (
    extraction_id  uuid NOT NULL REFERENCES xquik_extractions ON DELETE CASCADE,
    seq            integer NOT NULL,
    item_id        text NOT NULL,           -- the X id of the row (a user or a tweet): no row twice
    data           jsonb NOT NULL,
    PRIMARY KEY (extraction_id, seq),
    UNIQUE (extraction_id, item_id)
);

-- Media downloaded for an account, one row per tweet (a repeat is a cache hit, free), and the galleries
-- our app serves at /xquik/gallery/{id}.
CREATE TABLE xquik_galleries (
    id          text PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    tweet_ids   text[] NOT NULL,
    media       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE xquik_media (
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    tweet_id    text NOT NULL,
    media       jsonb NOT NULL,
    gallery_id  text NOT NULL REFERENCES xquik_galleries ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, tweet_id)
);
