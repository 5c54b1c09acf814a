-- Xquik's account monitors, their events, and trends (seed 002; engine/xquik/monitors/).
-- A monitor follows one X user's timeline with a stored sweep cursor (engine/social/cursors.py): each
-- polled page's new events, their webhook rows and the cursor commit in one transaction under the
-- monitor row's lock, and (monitor_id, type, tweet_id) is unique, so an event is emitted once whatever
-- a restart replays. `paid_until`: an active monitor's hours are charged as they start (credits).
CREATE TABLE xquik_monitors (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    username     text NOT NULL CHECK (length(username) BETWEEN 1 AND 15),
    x_user_id    text NOT NULL,
    event_types  text[] NOT NULL CHECK (cardinality(event_types) > 0),
    active       boolean NOT NULL DEFAULT true,
    cursor       text,
    polled_at    timestamptz,
    paid_until   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX xquik_monitors_username ON xquik_monitors (account_id, lower(username));
CREATE INDEX xquik_monitors_active ON xquik_monitors (id) WHERE active;

CREATE TABLE xquik_events (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    monitor_id   bigint NOT NULL REFERENCES xquik_monitors ON DELETE CASCADE,
    type         text NOT NULL,
    username     text NOT NULL,
    tweet_id     text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    data         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (monitor_id, type, tweet_id)
);
CREATE INDEX xquik_events_account ON xquik_events (account_id, id DESC);

-- A WOEID's trends as X last answered them (GET /trends serves them for monitors.trends_cache_seconds).
CREATE TABLE xquik_trends (
    woeid       bigint PRIMARY KEY,
    fetched_at  timestamptz NOT NULL,
    trends      jsonb NOT NULL
);

-- Xquik's webhooks are rows of the one webhooks table with their own profile (engine/outbox/profiles.py).
-- The profile list is extended, not restated, so other surfaces' profiles added meanwhile stay allowed.
DO $$
DECLARE def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
    WHERE conrelid = 'webhooks'::regclass AND conname = 'webhooks_profile_check';
    IF def IS NOT NULL AND position('''xquik''' IN def) = 0 THEN
        ALTER TABLE webhooks DROP CONSTRAINT webhooks_profile_check;
        EXECUTE 'ALTER TABLE webhooks ADD CONSTRAINT webhooks_profile_check '
            || replace(def, 'ARRAY[', 'ARRAY[''xquik''::text, ');
    END IF;
END $$;
