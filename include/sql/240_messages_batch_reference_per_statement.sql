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

-- Inserted messages: the batch is one more column of 230's one pass over the distinct
-- references of the statement (a COPY names no batch: still one group), locked as it is
-- found.
CREATE OR REPLACE FUNCTION messages_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- each distinct reference once (a COPY: one of each), the referenced rows locked
    PERFORM 1 FROM submissions s WHERE s.id IN (SELECT DISTINCT submission_id FROM written) FOR KEY SHARE;
    PERFORM 1 FROM message_types t WHERE t.id IN (SELECT DISTINCT message_type_id FROM written) FOR KEY SHARE;
    PERFORM 1 FROM standard_text_versions v WHERE v.id IN (SELECT DISTINCT standard_text_version_id FROM written)
        FOR KEY SHARE;
    SELECT * INTO bad FROM (
        SELECT DISTINCT w.submission_id, w.connection_id, w.message_type_id, w.standard_text_version_id, w.batch_id
          FROM written w
    ) r
     WHERE NOT EXISTS (SELECT 1 FROM submissions s WHERE s.id = r.submission_id AND s.connection_id = r.connection_id)
        OR (r.message_type_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM message_types t WHERE t.id = r.message_type_id))
        OR (r.standard_text_version_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM standard_text_versions v WHERE v.id = r.standard_text_version_id))
        OR (r.batch_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = r.batch_id FOR KEY SHARE))
     LIMIT 1;
    IF FOUND AND bad.batch_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = bad.batch_id) THEN
        RAISE EXCEPTION 'a message would name batch %, which does not exist', bad.batch_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'a message names submission % of connection %, message type %, standard-text version %: '
            'one of these does not exist (or the submission is not of that connection)',
            bad.submission_id, bad.connection_id, coalesce(bad.message_type_id::text, '-'),
            coalesce(bad.standard_text_version_id::text, '-') USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

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
