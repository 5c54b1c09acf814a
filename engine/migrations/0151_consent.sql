-- One opt-out record per person across SMS and social DMs (engine/consent/record.py). An address is E.164
-- digits (SMS) or '<platform>:<user id>' (a social DM recipient); `opt_outs` keeps a row per opted-out
-- address, the same for every address of one person. `person_addresses` groups addresses into people:
-- a key chosen by whoever groups them (the HTTP API's contacts: 'contact:<id>'); an address belongs to
-- at most one person of an account.
CREATE TABLE person_addresses (
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    address     text NOT NULL CHECK (length(address) BETWEEN 1 AND 300),
    person      text NOT NULL CHECK (length(person) BETWEEN 1 AND 100),
    PRIMARY KEY (account_id, address)
);
CREATE INDEX person_addresses_person ON person_addresses (account_id, person);

-- Grouping an address with an opted-out one opts the whole person out (whoever groups them).
CREATE FUNCTION smsengine_person_consent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM person_addresses p JOIN opt_outs o
               ON o.account_id = p.account_id AND o.number = p.address
               WHERE p.account_id = NEW.account_id AND p.person = NEW.person) THEN
        INSERT INTO opt_outs (account_id, number, source)
        SELECT p.account_id, p.address, 'person' FROM person_addresses p
        WHERE p.account_id = NEW.account_id AND p.person = NEW.person
        ON CONFLICT (account_id, number) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER person_addresses_consent AFTER INSERT OR UPDATE ON person_addresses
    FOR EACH ROW EXECUTE FUNCTION smsengine_person_consent();
