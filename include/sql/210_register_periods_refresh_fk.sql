-- Register periods: their references to refreshes are checked once per statement, not
-- once per row (issue 17). Runs with search_path = bbx.
--
-- A full list inserts a million periods in one statement. As foreign keys, a period's
-- references (connection_id -> connections, opened_by_refresh and closed_by_refresh ->
-- register_refreshes) were checked one row at a time: in EXPLAIN ANALYZE of that INSERT
-- the key triggers took about as long as writing the rows and their indexes. The rule
-- below is the same one, and a little stricter, checked with one join over the rows a
-- statement wrote (a transition table):
--     a period is opened, and once closed is closed, by a refresh of its own connection.
-- The connection exists through register_refreshes.connection_id (a foreign key). As a
-- foreign key would, the check locks the refreshes it relies on (FOR KEY SHARE), and a
-- refresh that periods name cannot be deleted or moved to another connection.

ALTER TABLE register_periods
    DROP CONSTRAINT register_periods_connection_id_fkey,
    DROP CONSTRAINT register_periods_opened_by_refresh_fkey,
    DROP CONSTRAINT register_periods_closed_by_refresh_fkey;

CREATE FUNCTION register_periods_check_refreshes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing record;
BEGIN
    WITH named AS (  -- each (connection, refresh) the written periods name, once
        SELECT connection_id, opened_by_refresh AS refresh_id FROM written
        UNION
        SELECT connection_id, closed_by_refresh FROM written WHERE closed_by_refresh IS NOT NULL
    ), held AS MATERIALIZED (
        SELECT r.id FROM register_refreshes r JOIN named n ON n.refresh_id = r.id AND n.connection_id = r.connection_id
        FOR KEY SHARE OF r
    )
    SELECT n.connection_id, n.refresh_id INTO missing
    FROM named n WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.id = n.refresh_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a register period of connection % names refresh %, which is not a refresh of that connection',
            missing.connection_id, missing.refresh_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

-- (one trigger per event: a trigger with transition tables has a single event)
CREATE TRIGGER register_periods_refreshes_inserted AFTER INSERT ON register_periods
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION register_periods_check_refreshes();
CREATE TRIGGER register_periods_refreshes_updated AFTER UPDATE ON register_periods
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION register_periods_check_refreshes();

CREATE FUNCTION register_refreshes_keep_periods() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.connection_id = OLD.connection_id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM register_periods p WHERE p.opened_by_refresh = OLD.id OR p.closed_by_refresh = OLD.id) THEN
        RAISE EXCEPTION 'refresh % opened or closed register periods; it cannot be %', OLD.id,
            CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'changed' END USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE TRIGGER register_refreshes_keep_periods BEFORE DELETE OR UPDATE OF id, connection_id ON register_refreshes
    FOR EACH ROW EXECUTE FUNCTION register_refreshes_keep_periods();
