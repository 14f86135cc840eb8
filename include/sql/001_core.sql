-- BBX core schema: administration, submissions, messages, batches, register, audit.
-- Invariants live here as constraints too, so no code path can break them.
-- Runs with search_path = bbx (see bbx.store.migrations).

-- ---------------------------------------------------------------- administration
CREATE TABLE tenants (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_-]{1,31}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A connection (koppeling): one sender identity of a tenant at MijnOverheid.
CREATE TABLE connections (
    id                          bigserial PRIMARY KEY,
    tenant_id                   bigint NOT NULL REFERENCES tenants(id),
    code                        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_]{1,39}$'),
    name                        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    oin                         char(20) NOT NULL UNIQUE CHECK (oin ~ '^[0-9]{20}$'),
    sender_code                 text NOT NULL CHECK (length(sender_code) BETWEEN 1 AND 25),
    cpa_id                      text NOT NULL CHECK (length(cpa_id) BETWEEN 1 AND 200),
    sftp_folder                 text NOT NULL UNIQUE CHECK (sftp_folder ~ '^/[A-Za-z0-9_/-]+$'),
    retention_days              integer NOT NULL DEFAULT 90 CHECK (retention_days BETWEEN 1 AND 3650),
    register_export             boolean NOT NULL DEFAULT false,
    register_stale_after_hours  integer NOT NULL DEFAULT 36 CHECK (register_stale_after_hours > 0),
    active                      boolean NOT NULL DEFAULT true,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- The library of standard attachments of a connection (not personal data).
CREATE TABLE standard_attachments (
    id             bigserial PRIMARY KEY,
    connection_id  bigint NOT NULL REFERENCES connections(id),
    code           text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,40}$'),
    description    text NOT NULL CHECK (length(description) BETWEEN 1 AND 128),
    file_name      text NOT NULL,
    content        bytea NOT NULL CHECK (substring(content from 1 for 5) = '\x255044462d'::bytea),
    size_bytes     integer NOT NULL CHECK (size_bytes > 0),
    sha256         char(64) NOT NULL,
    UNIQUE (connection_id, code)
);

CREATE TABLE message_types (
    id             bigserial PRIMARY KEY,
    connection_id  bigint NOT NULL REFERENCES connections(id),
    code           varchar(8) NOT NULL CHECK (length(code) BETWEEN 1 AND 8),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    subject        varchar(50) NOT NULL CHECK (length(subject) BETWEEN 1 AND 50),
    standard_text  text CHECK (standard_text IS NULL OR char_length(standard_text) BETWEEN 1 AND 4000),
    active         boolean NOT NULL DEFAULT true,
    UNIQUE (connection_id, code)
);

-- Up to 3 standard attachments selected per message type (position 1..3).
CREATE TABLE message_type_attachments (
    message_type_id         bigint NOT NULL REFERENCES message_types(id) ON DELETE CASCADE,
    position                smallint NOT NULL CHECK (position BETWEEN 1 AND 3),
    standard_attachment_id  bigint NOT NULL REFERENCES standard_attachments(id),
    PRIMARY KEY (message_type_id, position),
    UNIQUE (message_type_id, standard_attachment_id)
);

-- ---------------------------------------------------------------- submissions
-- One hand-in of work by a tenant. external_ref: drop id (sftp), idempotency key (api).
CREATE TABLE submissions (
    id               bigserial PRIMARY KEY,
    connection_id    bigint NOT NULL REFERENCES connections(id),
    message_type_id  bigint REFERENCES message_types(id),
    channel          text NOT NULL CHECK (channel IN ('sftp', 'manual', 'api')),
    external_ref     text,
    submitted_by     text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'received'
                     CHECK (status IN ('received', 'rejected', 'accepted', 'delivering', 'closed')),
    rows_handed_in   integer CHECK (rows_handed_in >= 0),
    status_reason    text,
    closed_at        timestamptz,
    UNIQUE (connection_id, channel, external_ref),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CHECK (status <> 'rejected' OR status_reason IS NOT NULL)
);

-- Every file of a submission, with its hash: the audit trail of what was handed in.
CREATE TABLE submission_files (
    id             bigserial PRIMARY KEY,
    submission_id  bigint NOT NULL REFERENCES submissions(id),
    file_name      text NOT NULL,
    role           text NOT NULL,
    size_bytes     bigint NOT NULL CHECK (size_bytes >= 0),
    sha256         char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    received_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (submission_id, file_name)
);

-- ---------------------------------------------------------------- batches
-- One GLOBE-R-BV-Request. id is the BatchID. A resend after TechnischProbleem goes in
-- a new batch (new BatchID) with the same BerichtIDs.
CREATE TABLE batches (
    id               uuid PRIMARY KEY,
    connection_id    bigint NOT NULL REFERENCES connections(id),
    submission_id    bigint NOT NULL REFERENCES submissions(id),
    batch_number     integer NOT NULL CHECK (batch_number >= 1),
    message_count    integer NOT NULL CHECK (message_count BETWEEN 1 AND 1000),
    size_bytes       bigint CHECK (size_bytes BETWEEN 1 AND 100000000),  -- limits.MAX_BATCH_BYTES
    status           text NOT NULL DEFAULT 'planned'
                     CHECK (status IN ('planned', 'sent', 'result_received', 'failed')),
    ebms_message_id  text,
    send_attempts    integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    result_at        timestamptz,
    UNIQUE (submission_id, batch_number),
    CHECK (status = 'planned' OR status = 'failed' OR sent_at IS NOT NULL)
);

-- ---------------------------------------------------------------- messages
-- One row per row handed in. Rejected rows are kept too (with reason), so that
-- rejected + not_subscribed + delivered + failed = rows handed in, per submission.
-- outcome: planned → queued (in a batch) → sent → delivered | failed;
--          planned → not_subscribed;  (any row) → rejected at intake.
CREATE TABLE messages (
    id               bigserial PRIMARY KEY,
    submission_id    bigint NOT NULL REFERENCES submissions(id),
    connection_id    bigint NOT NULL REFERENCES connections(id),
    message_type_id  bigint REFERENCES message_types(id),
    row_number       integer NOT NULL CHECK (row_number >= 1),
    bsn              char(9) CHECK (bsn ~ '^[0-9]{9}$'),
    message_id       uuid UNIQUE,                 -- the BerichtID, deterministic
    subject          varchar(50),
    text_encrypted   bytea,                       -- personal text, encrypted at rest
    reference        varchar(25),
    publication_date date,
    outcome          text NOT NULL DEFAULT 'planned'
                     CHECK (outcome IN ('planned', 'queued', 'sent', 'not_subscribed',
                                        'delivered', 'failed', 'rejected')),
    outcome_code     text,                        -- VerwerkingsCode or BBX reason code
    outcome_reason   text,                        -- for people: what happened, what to do
    batch_id         uuid REFERENCES batches(id),
    send_attempts    integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    final_at         timestamptz,
    purged_at        timestamptz,                 -- personal content removed (retention)
    UNIQUE (submission_id, row_number),
    CHECK (outcome = 'rejected' OR (bsn IS NOT NULL AND message_id IS NOT NULL)),
    CHECK (outcome NOT IN ('rejected', 'failed', 'not_subscribed') OR outcome_reason IS NOT NULL),
    CHECK ((outcome IN ('not_subscribed', 'delivered', 'failed', 'rejected')) = (final_at IS NOT NULL)),
    CHECK (outcome NOT IN ('queued', 'sent') OR batch_id IS NOT NULL)
);
CREATE INDEX messages_bsn_idx ON messages (bsn, connection_id);
CREATE INDEX messages_open_idx ON messages (submission_id, outcome)
    WHERE outcome IN ('planned', 'queued', 'sent');
CREATE INDEX messages_batch_idx ON messages (batch_id);

-- A final outcome is final. The only way back: a technical failure may be queued again
-- by an operator's redelivery (same BerichtID, so MijnOverheid dedups).
CREATE FUNCTION messages_outcome_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.outcome IN ('delivered', 'not_subscribed', 'rejected') AND NEW.outcome <> OLD.outcome THEN
        RAISE EXCEPTION 'message % already has final outcome %; it cannot become %',
            OLD.id, OLD.outcome, NEW.outcome USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.outcome = 'failed' AND NEW.outcome NOT IN ('failed', 'planned') THEN
        RAISE EXCEPTION 'failed message % can only be planned again for redelivery, not %',
            OLD.id, NEW.outcome USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.message_id IS DISTINCT FROM OLD.message_id AND OLD.message_id IS NOT NULL THEN
        RAISE EXCEPTION 'the BerichtID of message % never changes', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER messages_outcome_is_final BEFORE UPDATE ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_outcome_is_final();

-- Personal attachments (1..2 per message), encrypted at rest.
CREATE TABLE message_attachments (
    message_id         bigint NOT NULL REFERENCES messages(id),
    position           smallint NOT NULL CHECK (position BETWEEN 1 AND 2),
    file_name          text NOT NULL,
    size_bytes         integer NOT NULL CHECK (size_bytes > 0),
    sha256             char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_encrypted  bytea,                     -- NULL once purged (retention)
    PRIMARY KEY (message_id, position)
);

-- ---------------------------------------------------------------- register
-- One refresh of one connection's register for one logical date.
CREATE TABLE register_refreshes (
    id              bigserial PRIMARY KEY,
    connection_id   bigint NOT NULL REFERENCES connections(id),
    logical_date    date NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('full', 'changes')),
    request_id      uuid NOT NULL UNIQUE,
    since           timestamptz,
    status          text NOT NULL DEFAULT 'requested'
                    CHECK (status IN ('requested', 'answered', 'applied', 'failed')),
    snapshot_at     timestamptz,                  -- PeilDatum of the answer
    entries         integer,
    opened          integer,
    closed          integer,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    applied_at      timestamptz,
    UNIQUE (connection_id, logical_date),
    CHECK (kind = 'full' OR since IS NOT NULL)
);

-- Subscription periods: history, never overwritten. end_date NULL = still subscribed.
CREATE TABLE register_periods (
    id                  bigserial PRIMARY KEY,
    connection_id       bigint NOT NULL REFERENCES connections(id),
    bsn                 char(9) NOT NULL CHECK (bsn ~ '^[0-9]{9}$'),
    begin_date          date NOT NULL,
    end_date            date,
    opened_by_refresh   bigint NOT NULL REFERENCES register_refreshes(id),
    closed_by_refresh   bigint REFERENCES register_refreshes(id),
    CHECK (end_date IS NULL OR end_date >= begin_date),
    CHECK ((end_date IS NULL) = (closed_by_refresh IS NULL))
);
CREATE UNIQUE INDEX register_periods_one_open ON register_periods (connection_id, bsn)
    WHERE end_date IS NULL;
CREATE INDEX register_periods_bsn_idx ON register_periods (connection_id, bsn, begin_date);

-- ---------------------------------------------------------------- audit
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,
    action         text NOT NULL,
    tenant_id      bigint REFERENCES tenants(id),
    connection_id  bigint REFERENCES connections(id),
    submission_id  bigint REFERENCES submissions(id),
    details        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_submission_idx ON audit_log (submission_id);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_is_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
