-- Issue 17: every move of a message is a HOT update (heap-only: no index touched).
--
-- A message is written once by COPY and updated three times (plan, send, result). No update
-- was HOT: outcome, batch_id, sent_at and final_at were indexed (messages_open_idx,
-- messages_batch_idx, api_messages_sent_idx, api_messages_final_idx) and COPY filled every
-- page, so each update wrote a new entry into all eight indexes. Now:
--   * messages has free space in every page for the next version of its rows (fillfactor);
--   * no index of messages names a column that changes after the row is written: the
--     indexes left are id, message_id, (submission_id, row_number) and (bsn, connection_id);
--   * the reads those four indexes served take another path:
--       - a batch's messages: the batch is a row range of its submission (first_row ..
--         last_row, set when the batch is made) filtered on batch_id, through
--         UNIQUE (submission_id, row_number). A resend batch has its own range, which may
--         overlap older batches (batch_id tells them apart);
--       - "does the submission still have open messages": submissions.open_messages, kept
--         by the statement triggers below (no scan of a million rows after every result);
--       - reports and the stuck-message sweep by sent_at / final_at: through the
--         submissions of the period (bbx.store.reports, bbx.store.sweep).
-- Runs with search_path = bbx.

ALTER TABLE messages SET (fillfactor = 50);
DROP INDEX messages_open_idx, messages_batch_idx, api_messages_sent_idx, api_messages_final_idx;

-- ---------------------------------------------------------------- a batch is a row range
ALTER TABLE batches ADD COLUMN first_row integer, ADD COLUMN last_row integer;
UPDATE batches b SET first_row = r.lo, last_row = r.hi
  FROM (SELECT batch_id, min(row_number) AS lo, max(row_number) AS hi FROM messages
         WHERE batch_id IS NOT NULL GROUP BY batch_id) r
 WHERE r.batch_id = b.id;
UPDATE batches SET first_row = 1, last_row = 1 WHERE first_row IS NULL;  -- named by no message any more
ALTER TABLE batches ALTER COLUMN first_row SET NOT NULL, ALTER COLUMN last_row SET NOT NULL,
    ADD CONSTRAINT batches_row_range_check CHECK (first_row BETWEEN 1 AND last_row);

-- A range only grows: a message once put in a batch stays where the batch's range finds it.
CREATE FUNCTION batches_range_only_grows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.first_row > OLD.first_row OR NEW.last_row < OLD.last_row THEN
        RAISE EXCEPTION 'the row range of batch % can only grow (% .. % → % .. %)', OLD.id,
            OLD.first_row, OLD.last_row, NEW.first_row, NEW.last_row USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER batches_range_only_grows BEFORE UPDATE OF first_row, last_row ON batches
    FOR EACH ROW EXECUTE FUNCTION batches_range_only_grows();

-- ---------------------------------------------------------------- messages: the statement checks
-- 240's per-statement check, plus: a message put into a batch lies in that batch's range
-- (same submission, row_number between first_row and last_row). Checked per (batch,
-- submission) the statement names, not per row: a plan of 400k messages names 400 batches.
CREATE OR REPLACE FUNCTION messages_outcome_moves_allowed() RETURNS trigger LANGUAGE plpgsql
SET work_mem = '64MB' AS $$
DECLARE
    bad record;
    named uuid[];
    outside record;
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
    IF FOUND THEN
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
    END IF;

    -- per (batch, submission) named: the rows' lowest and highest row number, which must
    -- lie in the batch's range. Groups the statement left as they were are not checked
    -- again (EXCEPT): sending and results do not move messages between batches.
    SELECT g.batch_id, g.lo, g.hi INTO outside
      FROM (SELECT batch_id, submission_id, min(row_number) AS lo, max(row_number) AS hi
              FROM new_rows WHERE batch_id IS NOT NULL GROUP BY batch_id, submission_id
            EXCEPT
            SELECT batch_id, submission_id, min(row_number), max(row_number)
              FROM old_rows WHERE batch_id IS NOT NULL GROUP BY batch_id, submission_id) g
      JOIN batches b ON b.id = g.batch_id
     WHERE b.submission_id <> g.submission_id OR g.lo < b.first_row OR g.hi > b.last_row
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a message (rows % .. %) would be put in batch %, whose row range does not hold it',
            outside.lo, outside.hi, outside.batch_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- Inserted messages that name a batch (no code path does; COPY names none) lie in its range.
CREATE FUNCTION messages_inserted_in_range() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM (SELECT batch_id, submission_id, min(row_number) AS lo, max(row_number) AS hi
                                FROM written WHERE batch_id IS NOT NULL GROUP BY batch_id, submission_id) g
                 JOIN batches b ON b.id = g.batch_id
                WHERE b.submission_id <> g.submission_id OR g.lo < b.first_row OR g.hi > b.last_row) THEN
        RAISE EXCEPTION 'a message would be put in a batch whose row range does not hold it'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_inserted_in_range AFTER INSERT ON messages
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION messages_inserted_in_range();

-- ---------------------------------------------------------------- open messages per submission
-- open: planned, queued or sent (bbx.domain.outcomes.OPEN_OUTCOMES). Kept per statement from
-- its transition tables: one UPDATE of submissions per statement that changes the count
-- (sending, queued → sent, changes none).
ALTER TABLE submissions ADD COLUMN open_messages integer NOT NULL DEFAULT 0;
UPDATE submissions s SET open_messages = r.n
  FROM (SELECT submission_id, count(*) AS n FROM messages WHERE outcome IN ('planned', 'queued', 'sent')
         GROUP BY submission_id) r
 WHERE r.submission_id = s.id;
ALTER TABLE submissions ADD CONSTRAINT submissions_open_messages_check CHECK (open_messages >= 0);

CREATE FUNCTION messages_count_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE submissions s SET open_messages = s.open_messages + d.n
          FROM (SELECT submission_id, count(*) AS n FROM new_rows
                 WHERE outcome IN ('planned', 'queued', 'sent') GROUP BY submission_id) d
         WHERE s.id = d.submission_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE submissions s SET open_messages = s.open_messages - d.n
          FROM (SELECT submission_id, count(*) AS n FROM old_rows
                 WHERE outcome IN ('planned', 'queued', 'sent') GROUP BY submission_id) d
         WHERE s.id = d.submission_id;
    ELSE
        UPDATE submissions s SET open_messages = s.open_messages + d.n
          FROM (SELECT submission_id, sum(n) AS n FROM (
                    SELECT submission_id, count(*) AS n FROM new_rows
                     WHERE outcome IN ('planned', 'queued', 'sent') GROUP BY submission_id
                    UNION ALL
                    SELECT submission_id, -count(*) FROM old_rows
                     WHERE outcome IN ('planned', 'queued', 'sent') GROUP BY submission_id) c
                 GROUP BY submission_id HAVING sum(n) <> 0) d
         WHERE s.id = d.submission_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_count_open_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION messages_count_open();
CREATE TRIGGER messages_count_open_updated AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION messages_count_open();
CREATE TRIGGER messages_count_open_deleted AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION messages_count_open();

-- 240's keeper of batches found the messages of a batch by batch_id (its index is gone):
-- now through the batch's row range.
CREATE OR REPLACE FUNCTION batches_keep_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM messages m WHERE m.submission_id = OLD.submission_id
                  AND m.row_number BETWEEN OLD.first_row AND OLD.last_row AND m.batch_id = OLD.id) THEN
        RAISE EXCEPTION 'batch % is named by messages; it cannot be %', OLD.id,
            CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'changed' END USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
