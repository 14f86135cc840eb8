-- Messages: their references that are the same for a whole hand-in are checked once per
-- statement, not once per row (issue 17). Runs with search_path = bbx.
--
-- A 1M-row list is one COPY into messages. Its four foreign keys to submissions,
-- connections, message_types and standard_text_versions were checked row by row: the
-- same 200k COPY lines took 8.6 s with them, 4.1 s without. Every row of a COPY names the
-- same submission, connection, type and version, so one join over the rows the statement
-- wrote (a transition table) checks the same rule, a little stricter:
--     a message names an existing submission and that submission's connection, and an
--     existing message type and standard-text version (when it names one).
-- As a foreign key would, the check locks what it relies on (FOR KEY SHARE), and what
-- messages name cannot be deleted or have its key changed (the keys were NO ACTION).
-- batch_id stays a foreign key: it differs per row and is only checked when it changes.
-- No code moves a message to another submission, type or version; if an UPDATE does,
-- its new references are checked per row.

ALTER TABLE messages
    DROP CONSTRAINT messages_submission_id_fkey,
    DROP CONSTRAINT messages_connection_id_fkey,
    DROP CONSTRAINT messages_message_type_id_fkey,
    DROP CONSTRAINT messages_standard_text_version_id_fkey;

CREATE FUNCTION messages_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- each distinct reference once (a COPY: one of each), the referenced rows locked
    PERFORM 1 FROM submissions s WHERE s.id IN (SELECT DISTINCT submission_id FROM written) FOR KEY SHARE;
    PERFORM 1 FROM message_types t WHERE t.id IN (SELECT DISTINCT message_type_id FROM written) FOR KEY SHARE;
    PERFORM 1 FROM standard_text_versions v WHERE v.id IN (SELECT DISTINCT standard_text_version_id FROM written)
        FOR KEY SHARE;
    SELECT * INTO bad FROM (
        SELECT DISTINCT w.submission_id, w.connection_id, w.message_type_id, w.standard_text_version_id
          FROM written w
    ) r
     WHERE NOT EXISTS (SELECT 1 FROM submissions s WHERE s.id = r.submission_id AND s.connection_id = r.connection_id)
        OR (r.message_type_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM message_types t WHERE t.id = r.message_type_id))
        OR (r.standard_text_version_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM standard_text_versions v WHERE v.id = r.standard_text_version_id))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a message names submission % of connection %, message type %, standard-text version %: '
            'one of these does not exist (or the submission is not of that connection)',
            bad.submission_id, bad.connection_id, coalesce(bad.message_type_id::text, '-'),
            coalesce(bad.standard_text_version_id::text, '-') USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_references_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION messages_references_exist();

-- (a trigger with a column list cannot have transition tables: per row, and it fires only
-- when an UPDATE sets one of these columns, which sending never does)
CREATE FUNCTION messages_references_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM submissions s WHERE s.id = NEW.submission_id AND s.connection_id = NEW.connection_id
                   FOR KEY SHARE)
       OR (NEW.message_type_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM message_types t WHERE t.id = NEW.message_type_id FOR KEY SHARE))
       OR (NEW.standard_text_version_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM standard_text_versions v WHERE v.id = NEW.standard_text_version_id
                           FOR KEY SHARE)) THEN
        RAISE EXCEPTION 'message % would name submission % of connection %, message type %, standard-text version %: '
            'one of these does not exist (or the submission is not of that connection)',
            NEW.id, NEW.submission_id, NEW.connection_id, coalesce(NEW.message_type_id::text, '-'),
            coalesce(NEW.standard_text_version_id::text, '-') USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER messages_references_moved
    BEFORE UPDATE OF submission_id, connection_id, message_type_id, standard_text_version_id ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_references_moved();

-- The referenced side: what messages name is not deleted and its key not changed (as the
-- NO ACTION keys did). A submission's connection is kept too: messages repeat it, and
-- the connection itself is kept by submissions_connection_id_fkey.
CREATE FUNCTION messages_keep_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id
       -- (jsonb: one function for three tables, only submissions has connection_id)
       AND to_jsonb(NEW) -> 'connection_id' IS NOT DISTINCT FROM to_jsonb(OLD) -> 'connection_id' THEN
        RETURN NEW;
    END IF;
    named := CASE TG_TABLE_NAME
        WHEN 'submissions' THEN EXISTS (SELECT 1 FROM messages m WHERE m.submission_id = OLD.id)
        WHEN 'message_types' THEN EXISTS (SELECT 1 FROM messages m WHERE m.message_type_id = OLD.id)
        ELSE EXISTS (SELECT 1 FROM messages m WHERE m.standard_text_version_id = OLD.id) END;
    IF named THEN
        RAISE EXCEPTION '% % is named by messages; it cannot be %', TG_TABLE_NAME, OLD.id,
            CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'changed' END USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE TRIGGER submissions_keep_messages BEFORE DELETE OR UPDATE OF id, connection_id ON submissions
    FOR EACH ROW EXECUTE FUNCTION messages_keep_references();
CREATE TRIGGER message_types_keep_messages BEFORE DELETE OR UPDATE OF id ON message_types
    FOR EACH ROW EXECUTE FUNCTION messages_keep_references();
CREATE TRIGGER standard_text_versions_keep_messages BEFORE DELETE OR UPDATE OF id ON standard_text_versions
    FOR EACH ROW EXECUTE FUNCTION messages_keep_references();
