-- Routing: carriers and their rate cards, customer price lists, route rules, ported numbers.
-- Every write to these tables bumps routing_version.version (statement trigger) and NOTIFYs
-- 'routing_changed', so running engines reload their routing snapshot without a restart.
-- Account ids are the engine's; routing migrates first and deliberately has no foreign key to them.
-- Prefixes, networks and carrier ids are ASCII keys: COLLATE "C" compares them bytewise, which keeps the
-- primary-key btrees fast for 100,000-row COPY imports and gives the natural digit order.

CREATE TABLE routing_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL
);
INSERT INTO routing_version (singleton, version) VALUES (true, 0);

CREATE TABLE routing_carriers (
    carrier     text COLLATE "C" PRIMARY KEY CHECK (carrier <> ''),
    name        text NOT NULL DEFAULT '',
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- prefix '' = keyed by network only; mcc_mnc '' = keyed by prefix only ('' rather than NULL keeps the
-- primary key usable for ON CONFLICT).
CREATE TABLE routing_rates (
    carrier         text COLLATE "C" NOT NULL REFERENCES routing_carriers ON DELETE CASCADE,
    prefix          text COLLATE "C" NOT NULL CHECK (prefix ~ '^[0-9]{0,15}$'),
    mcc_mnc         text COLLATE "C" NOT NULL DEFAULT '' CHECK (mcc_mnc ~ '^([0-9]{5,6})?$'),
    cost_micro      bigint NOT NULL CHECK (cost_micro >= 0),
    currency        char(3) NOT NULL,
    effective_from  timestamptz NOT NULL,
    CHECK (prefix <> '' OR mcc_mnc <> ''),
    PRIMARY KEY (carrier, prefix, mcc_mnc, effective_from)
);

CREATE TABLE routing_price_lists (
    id          bigserial PRIMARY KEY,
    account_id  bigint UNIQUE,
    plan        text UNIQUE CHECK (plan <> ''),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    CHECK ((account_id IS NULL) <> (plan IS NULL))
);

CREATE TABLE routing_prices (
    price_list_id   bigint NOT NULL REFERENCES routing_price_lists ON DELETE CASCADE,
    prefix          text COLLATE "C" NOT NULL CHECK (prefix ~ '^[0-9]{0,15}$'),
    mcc_mnc         text COLLATE "C" NOT NULL DEFAULT '' CHECK (mcc_mnc ~ '^([0-9]{5,6})?$'),
    price_micro     bigint NOT NULL CHECK (price_micro >= 0),
    currency        char(3) NOT NULL,
    effective_from  timestamptz NOT NULL,
    CHECK (prefix <> '' OR mcc_mnc <> ''),
    PRIMARY KEY (price_list_id, prefix, mcc_mnc, effective_from)
);

CREATE TABLE routing_account_plans (
    account_id  bigint PRIMARY KEY,
    plan        text NOT NULL
);

CREATE TABLE routing_rules (
    id                   bigserial PRIMARY KEY,
    priority             integer NOT NULL DEFAULT 100,
    enabled              boolean NOT NULL DEFAULT true,
    description          text NOT NULL DEFAULT '',
    account_ids          bigint[] NOT NULL DEFAULT '{}',
    groups               text[] NOT NULL DEFAULT '{}',
    sender_pattern       text NOT NULL DEFAULT '',
    prefixes             text[] NOT NULL DEFAULT '{}',
    destination_pattern  text NOT NULL DEFAULT '',
    window_start_minute  smallint CHECK (window_start_minute BETWEEN 0 AND 1440),
    window_end_minute    smallint CHECK (window_end_minute BETWEEN 0 AND 1440),
    utc_offset_minutes   smallint NOT NULL DEFAULT 0,
    weekdays             smallint[] NOT NULL DEFAULT '{}',
    message_types        text[] NOT NULL DEFAULT '{}',
    action               text NOT NULL
        CHECK (action IN ('least_cost', 'static', 'failover', 'weighted', 'block')),
    carriers             text[] NOT NULL DEFAULT '{}',
    weights              integer[] NOT NULL DEFAULT '{}',
    exclude              text[] NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE routing_ported_numbers (
    number      text COLLATE "C" PRIMARY KEY CHECK (number ~ '^[0-9]{1,15}$'),
    mcc_mnc     text COLLATE "C" NOT NULL CHECK (mcc_mnc ~ '^[0-9]{5,6}$'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION routing_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_version bigint;
BEGIN
    -- The row lock also serialises concurrent routing writers, which are rare operator actions.
    UPDATE routing_version SET version = version + 1 RETURNING version INTO new_version;
    PERFORM pg_notify('routing_changed', new_version::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER routing_carriers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_carriers
    FOR EACH STATEMENT EXECUTE FUNCTION routing_bump_version();
CREATE TRIGGER routing_rates_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_rates
    FOR EACH STATEMENT EXECUTE FUNCTION routing_bump_version();
CREATE TRIGGER routing_price_lists_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_price_lists
    FOR EACH STATEMENT EXECUTE FUNCTION routing_bump_version();
CREATE TRIGGER routing_prices_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_prices
    FOR EACH STATEMENT EXECUTE FUNCTION routing_bump_version();
CREATE TRIGGER routing_account_plans_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON routing_account_plans FOR EACH STATEMENT EXECUTE FUNCTION routing_bump_version();
CREATE TRIGGER routing_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_rules
    FOR EACH STATEMENT EXECUTE FUNCTION routing_bump_version();
CREATE TRIGGER routing_ported_numbers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON routing_ported_numbers FOR EACH STATEMENT EXECUTE FUNCTION routing_bump_version();
