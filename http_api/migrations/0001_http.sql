-- The HTTP API's tables: idempotency keys, and per-key rate limits on the engine's api_keys.

-- A POST answered under an Idempotency-Key: claimed (status NULL) before the request runs, completed with
-- the response afterwards. Keys are per account: two customers may pick the same key.
CREATE TABLE http_idempotency (
    account_id    bigint NOT NULL,
    key           text NOT NULL,
    request_hash  text NOT NULL,          -- method, path and body: another body under the same key is refused
    status        smallint,               -- NULL while the first request is still running
    body          bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);
CREATE INDEX http_idempotency_created ON http_idempotency (created_at);

-- Per-key token bucket (requests per second, burst); NULL: the http.rate_limit / http.rate_burst defaults.
ALTER TABLE api_keys
    ADD COLUMN rate_limit real CHECK (rate_limit > 0),
    ADD COLUMN rate_burst integer CHECK (rate_burst > 0);
CREATE INDEX api_keys_account ON api_keys (account_id);
