-- Delivery: planning runs, resend batches, inbound results (GLOBE-R-BV-Result).
-- Owned by the delivery part (bbx.store.delivery). Runs with search_path = bbx.

-- Which bbx_deliver / bbx_redeliver run planned a submission, so that a rerun of that
-- run (a retried task, a cleared run) finds its own work again; the send date of the
-- register decision; why delivery is held (stale register); when the result file and
-- the undeliverable list were written to the tenant's outbox.
ALTER TABLE submissions
    ADD COLUMN delivery_run_id     text,
    ADD COLUMN send_date           date,
    ADD COLUMN delivery_held       text,
    ADD COLUMN results_written_at  timestamptz;
CREATE INDEX submissions_delivery_run_idx ON submissions (delivery_run_id)
    WHERE delivery_run_id IS NOT NULL;
CREATE INDEX submissions_open_idx ON submissions (status)
    WHERE status IN ('accepted', 'delivering');

-- kind: 'initial' (planned from a submission) or 'resend' (TechnischProbleem, an
-- operator's redelivery: a new BatchID, the same BerichtIDs).
-- last_error: why the last send attempt did not get through (for operators).
ALTER TABLE batches
    ADD COLUMN kind        text NOT NULL DEFAULT 'initial' CHECK (kind IN ('initial', 'resend')),
    ADD COLUMN last_error  text;
CREATE INDEX batches_open_idx ON batches (connection_id, status)
    WHERE status IN ('planned', 'sent');

-- Every inbound GLOBE-R-BV-Result, recorded (in the same transaction as the outcomes
-- it carries) BEFORE it is acknowledged with processMessage: a crash in between means
-- the result is fetched again and recognised here; nothing is lost or applied twice.
-- A result carries no BSNs or texts (only ids and codes), so the payload of an
-- unreadable one is kept for investigation.
CREATE TABLE delivery_results (
    ebms_message_id   text PRIMARY KEY,
    connection_id     bigint NOT NULL REFERENCES connections(id),
    batch_id          uuid,                      -- BatchID in the payload
    known_batch       boolean NOT NULL,          -- false: a batch BBX never sent (ignored)
    received_at       timestamptz NOT NULL DEFAULT now(),
    payload_sha256    char(64) NOT NULL,
    message_count     integer NOT NULL DEFAULT 0,
    applied           integer NOT NULL DEFAULT 0, -- messages whose outcome this result set
    resent            integer NOT NULL DEFAULT 0, -- TechnischProbleem: queued again
    ignored           integer NOT NULL DEFAULT 0, -- duplicates, unknown or moved messages
    problems          text,                      -- unreadable, inconsistent, unknown codes
    payload           bytea,                     -- only kept when unreadable
    processed_at      timestamptz                -- processMessage acknowledged
);
CREATE INDEX delivery_results_batch_idx ON delivery_results (batch_id);
