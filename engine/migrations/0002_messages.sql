-- The engine's tables: credentials, carrier connections, messages and their parts, events, receipts,
-- deliveries owed to customers (receipts and MO), MO numbers and opt-outs.

-- Each engine process takes a node number at start: message ids embed it, so processes never collide.
CREATE SEQUENCE engine_node_seq MINVALUE 0 MAXVALUE 1023 START 0 CYCLE;

ALTER TABLE accounts
    ADD COLUMN callback_url text NOT NULL DEFAULT '',
    ADD COLUMN enabled boolean NOT NULL DEFAULT true;

CREATE TABLE smpp_credentials (
    system_id      text PRIMARY KEY CHECK (length(system_id) BETWEEN 1 AND 15),
    account_id     bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    password_hash  text NOT NULL,
    allowed_ips    text[] NOT NULL DEFAULT '{}',
    max_binds      integer NOT NULL DEFAULT 4 CHECK (max_binds > 0),
    throughput     integer NOT NULL DEFAULT 100 CHECK (throughput > 0),
    enabled        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- How to reach a carrier (its rates live in routing_rates).
CREATE TABLE carrier_connections (
    carrier          text PRIMARY KEY REFERENCES routing_carriers ON DELETE CASCADE,
    host             text NOT NULL,
    port             integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    system_id        text NOT NULL,
    password         text NOT NULL,
    system_type      text NOT NULL DEFAULT '',
    binds            integer NOT NULL DEFAULT 1 CHECK (binds BETWEEN 1 AND 64),
    window_size      integer NOT NULL DEFAULT 50 CHECK (window_size BETWEEN 1 AND 1000),
    throughput       integer NOT NULL DEFAULT 1000 CHECK (throughput > 0),  -- segments per second, all binds
    long_message     text NOT NULL DEFAULT 'udh8' CHECK (long_message IN ('udh8', 'udh16', 'sar', 'payload')),
    packed_gsm       boolean NOT NULL DEFAULT false,
    resp_id_format   text NOT NULL DEFAULT 'text' CHECK (resp_id_format IN ('text', 'hex', 'dec')),
    dlr_id_format    text NOT NULL DEFAULT 'text' CHECK (dlr_id_format IN ('text', 'hex', 'dec')),
    tls              boolean NOT NULL DEFAULT false,
    enabled          boolean NOT NULL DEFAULT true
);

CREATE TABLE messages (
    id                   bigint PRIMARY KEY,
    account_id           bigint NOT NULL,
    channel              text NOT NULL CHECK (channel IN ('smpp', 'http')),
    system_id            text NOT NULL DEFAULT '',
    source               text NOT NULL,
    source_ton           smallint NOT NULL DEFAULT 0,
    source_npi           smallint NOT NULL DEFAULT 0,
    destination          text NOT NULL,
    data_coding          smallint NOT NULL,
    encoding             text NOT NULL,
    segments             smallint NOT NULL,
    registered_delivery  smallint NOT NULL DEFAULT 0,
    status               text NOT NULL,
    route                text[] NOT NULL,           -- first choice, then failovers
    route_costs          bigint[] NOT NULL,         -- cost per segment of each carrier of the route
    route_index          smallint NOT NULL DEFAULT 0,
    price                bigint NOT NULL,           -- per segment
    cost                 bigint NOT NULL DEFAULT 0, -- what the carrier that took it charges, all segments
    currency             char(3) NOT NULL,
    country              text NOT NULL DEFAULT '',
    client_ref           text NOT NULL DEFAULT '',
    batch_id             text NOT NULL DEFAULT '',
    campaign_id          bigint,
    scheduled_at         timestamptz,
    expires_at           timestamptz,
    possible_duplicate   boolean NOT NULL DEFAULT false,
    attempts             smallint NOT NULL DEFAULT 0,
    error_code           integer,
    reason               text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    final_at             timestamptz
) WITH (fillfactor = 70);
-- Restart recovery scans the messages that are not final. Indexed on id, not status: a status change
-- then touches no index, so queued -> sending -> submitted are HOT updates (no new index entries).
CREATE INDEX messages_open ON messages (id) WHERE final_at IS NULL;
CREATE INDEX messages_account ON messages (account_id, id);

-- What goes to the carrier: one row per segment, in order.
CREATE TABLE message_parts (
    message_id          bigint NOT NULL,
    part                smallint NOT NULL,
    short_message       bytea NOT NULL,
    esm_class           smallint NOT NULL,
    data_coding         smallint NOT NULL,
    sar                 integer[],            -- (ref, total, seqnum) when the carrier takes SAR TLVs
    payload             boolean NOT NULL DEFAULT false,  -- short_message travels in message_payload
    carrier             text,
    carrier_key         text COLLATE "C",     -- the carrier's message id, normalised for matching
    carrier_message_id  text,
    status              text NOT NULL DEFAULT 'queued',
    error_code          integer,
    PRIMARY KEY (message_id, part)
) WITH (fillfactor = 70);
CREATE INDEX message_parts_carrier_key ON message_parts (carrier, carrier_key) WHERE carrier_key IS NOT NULL;

CREATE TABLE message_events (
    message_id  bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    status      text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    error_code  integer
);
CREATE INDEX message_events_message ON message_events (message_id, at);

-- Every receipt a carrier sent, stored before deliver_sm_resp goes back. matched_* stay NULL until the
-- submit_sm_resp that names the same carrier id is recorded (receipts can arrive first).
CREATE TABLE carrier_receipts (
    id                  bigserial PRIMARY KEY,
    carrier             text NOT NULL,
    carrier_key         text COLLATE "C" NOT NULL,
    state               smallint,
    network_error       integer,
    stat                text NOT NULL DEFAULT '',
    err                 text NOT NULL DEFAULT '',
    received_at         timestamptz NOT NULL DEFAULT now(),
    matched_message_id  bigint,
    matched_part        smallint
);
CREATE INDEX carrier_receipts_unmatched ON carrier_receipts (carrier, carrier_key) WHERE matched_message_id IS NULL;

-- What the engine owes a customer: a receipt or an MO, on its bind or its callback, until acknowledged.
CREATE TABLE deliveries (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('receipt', 'mo')),
    message_id    bigint,
    body          jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    next_attempt  timestamptz NOT NULL DEFAULT now(),
    last_error    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz
);
CREATE INDEX deliveries_pending ON deliveries (account_id, next_attempt) WHERE status = 'pending';

-- Numbers whose MO belongs to an account.
CREATE TABLE mo_numbers (
    number      text PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE
);

CREATE TABLE opt_outs (
    account_id  bigint NOT NULL,
    number      text NOT NULL,
    source      text NOT NULL DEFAULT 'mo',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, number)
);

-- Parts of a multipart MO already acknowledged to the carrier, until the whole message is reassembled.
CREATE TABLE mo_parts (
    id           bigserial PRIMARY KEY,
    carrier      text NOT NULL,
    source       text NOT NULL,
    destination  text NOT NULL,
    data_coding  smallint NOT NULL,
    esm_class    smallint NOT NULL,
    short_message bytea NOT NULL,
    sar          integer[],
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- HTTP API keys: the key is public (sk_live_... / sk_test_...), the secret stored as a keyed hash.
CREATE TABLE api_keys (
    key          text PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    secret_hash  text NOT NULL,
    live         boolean NOT NULL DEFAULT true,
    permissions  text[] NOT NULL DEFAULT '{*}',
    name         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
