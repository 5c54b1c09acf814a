-- POST /v1/sms/retry-failed (http_api/routes_sms_retry.py): each failed message retried at most once,
-- as a new message. The row is written before the new message is submitted (a concurrent retry-failed
-- finds it taken) and removed if the engine refuses the new one.
CREATE TABLE sms_retries (
    original_id  bigint PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    retry_id     bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
