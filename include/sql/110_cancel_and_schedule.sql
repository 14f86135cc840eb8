-- Control over a send (issue 18): a tenant cancels a submission, or schedules it.
--
-- cancelled: a new final outcome, for messages that were not yet in a batch the ebMS
-- adapter acknowledged (planned, or queued in a batch that was never sent). What is
-- already with MijnOverheid (sent) cannot be recalled and keeps its way to an outcome.
-- The outcome rule becomes rejected + not_subscribed + delivered + failed + cancelled
-- = rows handed in. bbx.domain.outcomes.TRANSITIONS holds the same new pairs
-- (tests/delivery/test_outcome_machine.py compares the two).
ALTER TABLE messages DROP CONSTRAINT messages_outcome_check,
    ADD CONSTRAINT messages_outcome_check CHECK (outcome IN ('planned', 'queued', 'sent', 'not_subscribed',
                                                             'delivered', 'failed', 'rejected', 'cancelled'));
ALTER TABLE messages DROP CONSTRAINT messages_check1,
    ADD CONSTRAINT messages_check1 CHECK (outcome NOT IN ('rejected', 'failed', 'not_subscribed', 'cancelled')
                                          OR outcome_reason IS NOT NULL);
ALTER TABLE messages DROP CONSTRAINT messages_check2,
    ADD CONSTRAINT messages_check2 CHECK ((outcome IN ('not_subscribed', 'delivered', 'failed', 'rejected',
                                                       'cancelled')) = (final_at IS NOT NULL));

INSERT INTO outcome_transitions (from_outcome, to_outcome) VALUES
    ('planned', 'cancelled'),       -- cancelled before it was put into a batch
    ('queued', 'cancelled');        -- in a batch the adapter never acknowledged

-- A batch whose messages were cancelled before it was sent is never sent.
ALTER TABLE batches DROP CONSTRAINT batches_status_check,
    ADD CONSTRAINT batches_status_check CHECK (status IN ('planned', 'sent', 'result_received', 'failed',
                                                          'cancelled'));
ALTER TABLE batches DROP CONSTRAINT batches_check,
    ADD CONSTRAINT batches_check CHECK (status IN ('planned', 'failed', 'cancelled') OR sent_at IS NOT NULL);

-- cancel_requested_at: the tenant asked to stop; from then on no batch of the submission
-- is sent (a batch being sent at that moment goes, and says so in the answer).
-- send_at: not before this moment (NULL: as soon as possible).
ALTER TABLE submissions ADD COLUMN cancel_requested_at timestamptz,
                        ADD COLUMN cancelled_by text,
                        ADD COLUMN send_at timestamptz;
CREATE INDEX submissions_scheduled_idx ON submissions (send_at) WHERE status = 'accepted' AND send_at IS NOT NULL;

CREATE OR REPLACE FUNCTION messages_outcome_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.outcome IS DISTINCT FROM OLD.outcome THEN
        IF NOT EXISTS (SELECT 1 FROM outcome_transitions t
                       WHERE t.from_outcome = OLD.outcome AND t.to_outcome = NEW.outcome) THEN
            RAISE EXCEPTION 'message % cannot go from % to %', OLD.id, OLD.outcome, NEW.outcome
                || CASE WHEN OLD.outcome IN ('delivered', 'not_subscribed', 'rejected', 'failed', 'cancelled')
                        THEN ' (' || OLD.outcome || ' is final)' ELSE '' END
                USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.outcome = 'failed' AND NEW.outcome = 'delivered' AND NOT EXISTS (
                SELECT 1 FROM outcome_corrections c
                WHERE c.message_id = NEW.id AND c.from_outcome = 'failed' AND c.to_outcome = 'delivered') THEN
            RAISE EXCEPTION 'failed message % can only become delivered as a recorded correction '
                '(outcome_corrections)', OLD.id USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF NEW.message_id IS DISTINCT FROM OLD.message_id AND OLD.message_id IS NOT NULL THEN
        RAISE EXCEPTION 'the BerichtID of message % never changes', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
