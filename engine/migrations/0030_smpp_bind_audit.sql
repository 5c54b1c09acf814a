-- Every SMPP bind attempt by a customer, accepted or refused: the audit trail an operator queries
-- (`smsengine binds log`, the dashboard). Rows are only ever inserted.
CREATE TABLE smpp_bind_audit (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    peer_ip        text NOT NULL,
    system_id      text NOT NULL,
    bind_type      text NOT NULL,            -- transmitter | receiver | transceiver
    account_id     bigint,                   -- the credential's account, when the system_id is known
    ok             boolean NOT NULL,
    command_status integer NOT NULL,         -- what the bind_resp said
    reason         text NOT NULL DEFAULT ''
);
CREATE INDEX smpp_bind_audit_at ON smpp_bind_audit (at DESC);
CREATE INDEX smpp_bind_audit_peer ON smpp_bind_audit (peer_ip, at DESC);
