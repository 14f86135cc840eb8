-- The outcome machine, enforced by the database from one table.
-- outcome_transitions holds exactly the pairs of bbx.domain.outcomes.TRANSITIONS (a move
-- to the same state is always allowed and not listed); tests/integration/
-- test_outcome_machine.py compares this table with TRANSITIONS and tries every pair
-- against the trigger, so the two cannot drift apart. Change both together (a new
-- migration that rewrites the rows).
CREATE TABLE outcome_transitions (
    from_outcome  text NOT NULL,
    to_outcome    text NOT NULL,
    PRIMARY KEY (from_outcome, to_outcome),
    CHECK (from_outcome <> to_outcome)
);
INSERT INTO outcome_transitions (from_outcome, to_outcome) VALUES
    ('failed', 'delivered'),        -- delivery evidence wins: a correction (below)
    ('failed', 'planned'),          -- an operator's redelivery (bbx_redeliver)
    ('planned', 'delivered'),       -- late delivery evidence for a message planned again
    ('planned', 'not_subscribed'),
    ('planned', 'queued'),
    ('planned', 'rejected'),
    ('queued', 'delivered'),
    ('queued', 'failed'),
    ('queued', 'not_subscribed'),
    ('queued', 'rejected'),
    ('queued', 'sent'),
    ('sent', 'delivered'),
    ('sent', 'failed'),
    ('sent', 'not_subscribed'),
    ('sent', 'queued');

-- A final count that changed after the fact: failed → delivered because a Verwerkt /
-- BerichtBestaatAl for the same BerichtID arrived later. Written before the message is
-- updated (the trigger requires it); reported_in_version: the result file version that
-- told the tenant (NULL: not yet, or the submission had no result file yet).
CREATE TABLE outcome_corrections (
    id                   bigserial PRIMARY KEY,
    message_id           bigint NOT NULL REFERENCES messages(id),
    submission_id        bigint NOT NULL REFERENCES submissions(id),
    from_outcome         text NOT NULL,
    to_outcome           text NOT NULL,
    from_code            text,
    to_code              text NOT NULL,
    ebms_message_id      text NOT NULL,     -- the result that carried the evidence
    corrected_at         timestamptz NOT NULL DEFAULT now(),
    reported_in_version  integer
);
CREATE INDEX outcome_corrections_submission_idx ON outcome_corrections (submission_id, message_id);

-- Which version of the result file the tenant's outbox has (0: none yet). A correction
-- after the file was written makes BBX write version n+1 (…results-v2.csv).
ALTER TABLE submissions ADD COLUMN results_version integer NOT NULL DEFAULT 0;
UPDATE submissions SET results_version = 1 WHERE results_written_at IS NOT NULL;

CREATE OR REPLACE FUNCTION messages_outcome_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.outcome IS DISTINCT FROM OLD.outcome THEN
        IF NOT EXISTS (SELECT 1 FROM outcome_transitions t
                       WHERE t.from_outcome = OLD.outcome AND t.to_outcome = NEW.outcome) THEN
            RAISE EXCEPTION 'message % cannot go from % to %', OLD.id, OLD.outcome, NEW.outcome
                || CASE WHEN OLD.outcome IN ('delivered', 'not_subscribed', 'rejected', 'failed')
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
