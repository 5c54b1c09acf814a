-- The BulkAPIs surface's plan (seed 000): an annual membership with a yearly API call quota, and Social
-- Accounts packs (50 connected accounts each) that social features need (http_api/bulkapis/plans.py).
-- An account without a row is on the Base plan with no pack (its row is made at its first call).
-- `calls_used` counts this membership year's calls (period_start .. period_end); the year rolls over at
-- the first call after period_end.
CREATE TABLE bulkapis_memberships (
    account_id       bigint PRIMARY KEY REFERENCES accounts ON DELETE CASCADE,
    plan             text NOT NULL DEFAULT 'base' CHECK (plan IN ('base', 'growth', 'scale')),
    api_calls_quota  bigint NOT NULL DEFAULT 3000 CHECK (api_calls_quota >= 0),
    social_packs     integer NOT NULL DEFAULT 0 CHECK (social_packs >= 0),
    period_start     timestamptz NOT NULL DEFAULT now(),
    period_end       timestamptz NOT NULL DEFAULT now() + interval '1 year',
    calls_used       bigint NOT NULL DEFAULT 1 CHECK (calls_used >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Calls per account and UTC day, for GET /api/v1/usage?from=&to=.
CREATE TABLE bulkapis_usage_daily (
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    day         date NOT NULL,
    calls       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day)
);
