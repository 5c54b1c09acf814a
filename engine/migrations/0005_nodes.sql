-- Several engine processes on one database (engine/core/nodes.py, docs/deployment.md).
--
-- A node has a stable name and a number (the number is in every id it makes); it holds a lease it renews
-- by its heartbeat. A node whose lease expired is taken over by one live node (adopted_by): that node
-- becomes the owner of the dead node's messages that were not yet with a carrier, and sends them.
ALTER TABLE engine_nodes
    ADD COLUMN name           text UNIQUE,
    ADD COLUMN lease_seconds  real NOT NULL DEFAULT 10,
    ADD COLUMN adopted_by     integer,
    ADD COLUMN adopted_at     timestamptz,
    ADD COLUMN stopped_at     timestamptz;

-- Who dispatches a message that is not with a carrier yet: NULL, the node its id names; set when a node
-- takes it over from a dead one (the 'sending' mark of a recovered job writes it).
ALTER TABLE messages ADD COLUMN owner integer;

-- The node holding an MO's parts for reassembly (restored after its restart, or by its adopter).
ALTER TABLE mo_parts ADD COLUMN node integer;

-- A delivery owed to a customer is sent by the node holding its lease (SKIP LOCKED claims), so that it
-- goes out once from one node: the one where the customer's receiving bind is.
ALTER TABLE deliveries
    ADD COLUMN lease_node   integer,
    ADD COLUMN lease_until  timestamptz;

-- SMPP binds of customers per node, so that max_binds and throughput hold across nodes.
CREATE TABLE customer_binds (
    node       integer NOT NULL,
    system_id  text NOT NULL,
    binds      integer NOT NULL CHECK (binds >= 0),
    PRIMARY KEY (node, system_id)
);

-- What an operator or a customer changes reaches every node within a second: each change NOTIFYs, and
-- nodes also poll (a notification is a hint: one missed while a node reconnects is made up by polling).
CREATE FUNCTION smsengine_notify_opt_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('smsengine_opt_outs', OLD.account_id || ':' || OLD.number || ':0');
    ELSE
        PERFORM pg_notify('smsengine_opt_outs', NEW.account_id || ':' || NEW.number || ':1');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER opt_outs_changed AFTER INSERT OR UPDATE OR DELETE ON opt_outs
    FOR EACH ROW EXECUTE FUNCTION smsengine_notify_opt_out();

CREATE FUNCTION smsengine_notify_carriers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('smsengine_carriers', '');
    RETURN NULL;
END $$;
CREATE TRIGGER carrier_connections_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON carrier_connections FOR EACH STATEMENT EXECUTE FUNCTION smsengine_notify_carriers();
