-- Issue 17: a message's batch is checked once per statement, not once per row.
--
-- Planning moves every message of a submission into its batch in one UPDATE. The
-- foreign key messages.batch_id → batches checked each row on its own (one lookup of
-- batches per message: 4.1 s of a 22.9 s UPDATE of 100k messages, EXPLAIN ANALYZE), while
-- the statement names only a hundred batches. The same rule, as in 230:
--     a message names an existing batch (when it names one);
-- checked for the batches a statement newly names (those not named by the rows before
-- the statement: an unchanged reference is not checked, as a foreign key does not), each
-- locked FOR KEY SHARE as a foreign key would; a batch that messages name cannot be
-- deleted or have its id changed (the key was NO ACTION).
--
-- The outcome check's join of the statement's old and new rows sorted on disk with the
-- default work_mem (1.4 s of the same UPDATE); it gets the memory to hash them instead.

ALTER TABLE messages DROP CONSTRAINT messages_batch_id_fkey;

CREATE OR REPLACE FUNCTION messages_outcome_moves_allowed() RETURNS trigger LANGUAGE plpgsql
SET work_mem = '64MB' AS $$
DECLARE
    bad record;
    named uuid[];
BEGIN
    -- the batches this statement newly names: locked, and they exist
    named := ARRAY(SELECT batch_id FROM new_rows WHERE batch_id IS NOT NULL
                   EXCEPT SELECT batch_id FROM old_rows WHERE batch_id IS NOT NULL);
    IF cardinality(named) > 0 THEN
        PERFORM messages_batches_exist(named);
    END IF;

    SELECT * INTO bad FROM (
        SELECT o.id, o.outcome AS from_outcome, n.outcome AS to_outcome,
               n.outcome IS DISTINCT FROM o.outcome AND NOT EXISTS (
                   SELECT 1 FROM outcome_transitions t
                   WHERE t.from_outcome = o.outcome AND t.to_outcome = n.outcome) AS not_a_move,
               o.outcome = 'failed' AND n.outcome = 'delivered' AND NOT EXISTS (
                   SELECT 1 FROM outcome_corrections c
                   WHERE c.message_id = n.id AND c.from_outcome = 'failed'
                     AND c.to_outcome = 'delivered') AS uncorrected,
               n.message_id IS DISTINCT FROM o.message_id AND o.message_id IS NOT NULL AS id_changed
          FROM old_rows o JOIN new_rows n ON n.id = o.id
         WHERE n.outcome IS DISTINCT FROM o.outcome OR n.message_id IS DISTINCT FROM o.message_id
    ) m
     WHERE m.not_a_move OR m.uncorrected OR m.id_changed
     ORDER BY m.id
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF bad.not_a_move THEN
        RAISE EXCEPTION 'message % cannot go from % to %', bad.id, bad.from_outcome, bad.to_outcome
            || CASE WHEN bad.from_outcome IN ('delivered', 'not_subscribed', 'rejected', 'failed', 'cancelled')
                    THEN ' (' || bad.from_outcome || ' is final)' ELSE '' END
            USING ERRCODE = 'check_violation';
    END IF;
    IF bad.uncorrected THEN
        RAISE EXCEPTION 'failed message % can only become delivered as a recorded correction '
            '(outcome_corrections)', bad.id USING ERRCODE = 'check_violation';
    END IF;
    RAISE EXCEPTION 'the BerichtID of message % never changes', bad.id USING ERRCODE = 'check_violation';
END $$;

-- Locks the batches named and raises when one does not exist.
CREATE FUNCTION messages_batches_exist(named uuid[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    missing uuid;
BEGIN
    PERFORM 1 FROM batches b WHERE b.id = ANY(named) FOR KEY SHARE;
    SELECT n.id INTO missing FROM unnest(named) AS n(id)
     WHERE NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = n.id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a message would name batch %, which does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
END $$;

-- A COPY into messages names no batch (one scan of its rows); an INSERT that does is checked.
CREATE FUNCTION messages_batches_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named uuid[] := ARRAY(SELECT DISTINCT batch_id FROM written WHERE batch_id IS NOT NULL);
BEGIN
    IF cardinality(named) > 0 THEN
        PERFORM messages_batches_exist(named);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_batches_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION messages_batches_inserted();

CREATE FUNCTION batches_keep_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM messages m WHERE m.batch_id = OLD.id) THEN
        RAISE EXCEPTION 'batch % is named by messages; it cannot be %', OLD.id,
            CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'changed' END USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE TRIGGER batches_keep_messages BEFORE DELETE OR UPDATE OF id ON batches
    FOR EACH ROW EXECUTE FUNCTION batches_keep_messages();
