-- A contact is a person of the engine's one opt-out record (engine/migrations/0151_consent.sql): its phone
-- and the platform user ids in its custom fields `x_user_id` (X) and `bluesky_did` (Bluesky) are grouped
-- as 'contact:<id>', kept by this trigger on every write of the table (create, update, CSV import, delete).
CREATE FUNCTION smsengine_contact_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM person_addresses WHERE account_id = OLD.account_id AND person = 'contact:' || OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO person_addresses (account_id, address, person)
        SELECT NEW.account_id, a, 'contact:' || NEW.id
        FROM unnest(ARRAY[
            NEW.phone,
            'x:' || nullif(NEW.fields ->> 'x_user_id', ''),
            'bluesky:' || nullif(NEW.fields ->> 'bluesky_did', '')
        ]) AS a
        WHERE a IS NOT NULL AND length(a) <= 300
        ON CONFLICT (account_id, address) DO UPDATE SET person = excluded.person;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_person AFTER INSERT OR UPDATE OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION smsengine_contact_person();

-- The contacts made before this trigger.
INSERT INTO person_addresses (account_id, address, person)
SELECT c.account_id, a, 'contact:' || c.id
FROM contacts c, unnest(ARRAY[
    c.phone,
    'x:' || nullif(c.fields ->> 'x_user_id', ''),
    'bluesky:' || nullif(c.fields ->> 'bluesky_did', '')
]) AS a
WHERE a IS NOT NULL AND length(a) <= 300
ON CONFLICT (account_id, address) DO NOTHING;
