-- People's decisions on submissions (issue 12): a held submission (stale register,
-- deactivated connection) and a large send (four-eyes) wait for an operator, who
-- answers in Airflow's "Required actions" (a bbx_review run) or with the CLI.
--
-- One open review per submission and kind (the partial unique index): a hold seen by
-- every 5-minute bbx_deliver run asks once, not 288 times a day.
ALTER TABLE connections
    ADD COLUMN approval_threshold integer CHECK (approval_threshold >= 1);  -- NULL: no four-eyes

CREATE TABLE submission_reviews (
    id             bigserial PRIMARY KEY,
    submission_id  bigint NOT NULL REFERENCES submissions(id),
    kind           text NOT NULL CHECK (kind IN ('stale_register', 'inactive_connection', 'four_eyes')),
    reason         text NOT NULL,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    decision       text CHECK (decision IN ('approved', 'rejected', 'withdrawn')),
    decided_by     text,
    decided_at     timestamptz,
    note           text,
    CHECK ((decision IS NULL) = (decided_at IS NULL)),
    CHECK ((decision IS NULL) = (decided_by IS NULL))
);
CREATE UNIQUE INDEX submission_reviews_one_open ON submission_reviews (submission_id, kind)
    WHERE decision IS NULL;
CREATE INDEX submission_reviews_submission_idx ON submission_reviews (submission_id);
