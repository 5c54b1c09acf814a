-- The one usage record (engine/usage/counts.py): counts per account, UTC day and metric, written in the
-- transaction of what they count; every document's usage answer reads it. Metrics: api_calls:bulkapis,
-- social:<action> (a succeeded social job, on its final day), inbox:<kind> (an inbound item stored).
CREATE TABLE usage_daily (
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    day         date NOT NULL,
    metric      text NOT NULL CHECK (length(metric) BETWEEN 1 AND 100),
    count       bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (account_id, metric, day)
);

-- What happened before this record existed, counted from the rows themselves.
INSERT INTO usage_daily (account_id, day, metric, count)
SELECT account_id, (final_at AT TIME ZONE 'UTC')::date, 'social:' || action, count(*)
FROM social_jobs WHERE status = 'succeeded' AND final_at IS NOT NULL
GROUP BY 1, 2, 3;
INSERT INTO usage_daily (account_id, day, metric, count)
SELECT account_id, (received_at AT TIME ZONE 'UTC')::date, 'inbox:' || kind, count(*)
FROM social_inbox WHERE direction = 'in'
GROUP BY 1, 2, 3;
