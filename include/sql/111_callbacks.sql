-- Status callbacks (issue 18): a tenant registers one HTTPS URL per connection; BBX posts
-- status changes to it, signed with an HMAC secret (bbx.domain.callbacks).
-- callback_outbox is written in the same transaction as the change it reports, so
-- nothing is lost when the receiver is down: bbx_callbacks delivers it, with retries and
-- exponential backoff, and gives up (failed_at) after the last attempt — listed for the
-- tenant (GET .../callback/failed) and the operator.
CREATE TABLE callback_endpoints (
    connection_id     bigint PRIMARY KEY REFERENCES connections(id),
    url               text NOT NULL CHECK (url ~ '^https://'),
    secret_encrypted  bytea NOT NULL,                -- bbx.crypto, like personal content
    registered_by     text NOT NULL,
    registered_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE callback_outbox (
    id               bigserial PRIMARY KEY,
    connection_id    bigint NOT NULL REFERENCES connections(id),
    submission_id    bigint REFERENCES submissions(id),
    event            text NOT NULL,                  -- submission.accepted | submission.closed | messages.final
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    failed_at        timestamptz,                    -- gave up after the last attempt
    last_status      integer,
    last_error       text,
    CHECK (delivered_at IS NULL OR failed_at IS NULL)
);
CREATE INDEX callback_outbox_due_idx ON callback_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX callback_outbox_failed_idx ON callback_outbox (connection_id, failed_at) WHERE failed_at IS NOT NULL;
