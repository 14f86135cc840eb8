-- Issue 17: the outcome machine is checked once per UPDATE statement, not once per row.
-- The row trigger ran its outcome_transitions lookup for every message moved, and
-- planning, sending and results each move a thousand messages per statement: that was
-- about half of the cost of those UPDATEs. Same rules and messages (050, 110), now one
-- query over the statement's transition tables; an AFTER trigger that raises still
-- aborts the whole statement, so no forbidden move is ever committed.
DROP TRIGGER messages_outcome_is_final ON messages;
DROP FUNCTION messages_outcome_is_final();

CREATE FUNCTION messages_outcome_moves_allowed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
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

CREATE TRIGGER messages_outcome_moves_allowed AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_outcome_moves_allowed();
