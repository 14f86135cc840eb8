-- The BSN register: refresh bookkeeping, received answers, the stale-register flag and
-- its acknowledgement, doubts raised by delivery, exports, and the one definition of
-- "subscribed on a date". Owned by the register part (bbx.store.register).
-- Runs with search_path = bbx.
--
-- Date semantics (the same as MijnOverheid's answer, AbonnementAntwoord.xsd):
--   a period [begin_date, end_date) means: subscribed from begin_date (inclusive) up to
--   end_date (EXCLUSIVE). end_date is the first day WITHOUT a subscription (the sign-off
--   day); end_date NULL means still subscribed. So a BSN is subscribed on day D when
--       begin_date <= D AND (end_date IS NULL OR end_date > D).
--   A period with end_date = begin_date is empty (never subscribed on any day).

-- ---------------------------------------------------------------- refreshes
-- attempt: a refresh of a logical date that failed is asked again with a new VerzoekId
-- (request_id), attempt + 1. request_message_id: the ebMS messageId of the sent request
-- (NULL: not sent yet). note: what happened when nothing was applied (e.g. superseded).
ALTER TABLE register_refreshes
    ADD COLUMN attempt             integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    ADD COLUMN request_message_id  text,
    ADD COLUMN answer_message_id   text,
    ADD COLUMN answered_at         timestamptz,
    ADD COLUMN conflicts           integer,
    ADD COLUMN error               text,
    ADD COLUMN note                text,
    ADD CONSTRAINT register_refreshes_failed_has_error CHECK (status <> 'failed' OR error IS NOT NULL),
    ADD CONSTRAINT register_refreshes_applied_has_time CHECK (status <> 'applied' OR applied_at IS NOT NULL);
CREATE INDEX register_refreshes_applied_idx ON register_refreshes (connection_id, snapshot_at)
    WHERE status = 'applied';

-- ---------------------------------------------------------------- answers
-- A subscription answer as received (gzip), stored before the ebMS message is
-- acknowledged, so that the apply step does not depend on the adapter and a crash never
-- loses an answer. The content holds BSNs: it is removed once applied (content NULL,
-- purged_at set); size and hash stay for audit.
CREATE TABLE register_answers (
    request_id       uuid PRIMARY KEY,             -- the VerzoekId it answers
    refresh_id       bigint NOT NULL REFERENCES register_refreshes(id),
    ebms_message_id  text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    size_bytes       bigint NOT NULL CHECK (size_bytes >= 0),
    sha256           char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content          bytea,
    purged_at        timestamptz,
    CHECK ((content IS NULL) = (purged_at IS NOT NULL))
);
CREATE INDEX register_answers_refresh_idx ON register_answers (refresh_id);

-- ---------------------------------------------------------------- stale flag
-- One row per stale episode of a connection: the register was not refreshed within
-- connections.register_stale_after_hours after refresh last_refresh_id (NULL: never
-- built). Bulk sends for the connection stop until an operator acknowledges the episode;
-- a later successful refresh ends the episode (a new one needs a new acknowledgement).
CREATE TABLE register_stale_flags (
    id                bigserial PRIMARY KEY,
    connection_id     bigint NOT NULL REFERENCES connections(id),
    last_refresh_id   bigint REFERENCES register_refreshes(id),
    reason            text NOT NULL,
    flagged_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    acknowledgement   text,
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
    CHECK (acknowledged_at IS NULL OR length(acknowledgement) > 0)
);
CREATE UNIQUE INDEX register_stale_flags_episode ON register_stale_flags
    (connection_id, coalesce(last_refresh_id, 0));

-- ---------------------------------------------------------------- doubts
-- MijnOverheid answered NietActiefOfGeabonneerd for a message to a BSN the register
-- held subscribed on the send date: the register may be behind. Resolved automatically
-- when a later refresh shows the BSN not subscribed, or by an operator.
CREATE TABLE register_doubts (
    id             bigserial PRIMARY KEY,
    connection_id  bigint NOT NULL REFERENCES connections(id),
    bsn            char(9) NOT NULL CHECK (bsn ~ '^[0-9]{9}$'),
    message_id     uuid NOT NULL,                -- the BerichtID that was refused
    source         text NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolution     text,
    UNIQUE (connection_id, message_id),
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE INDEX register_doubts_open_idx ON register_doubts (connection_id, bsn)
    WHERE resolved_at IS NULL;

-- ---------------------------------------------------------------- exports
-- The daily export of a connection's active register into the tenant's SFTP outbox.
CREATE TABLE register_exports (
    id             bigserial PRIMARY KEY,
    connection_id  bigint NOT NULL REFERENCES connections(id),
    register_date  date NOT NULL,                -- the register as on this date
    path           text NOT NULL,                -- the CSV file on SFTP
    checksum_path  text NOT NULL,                -- its .sha256 file
    rows           integer NOT NULL CHECK (rows >= 0),
    size_bytes     bigint NOT NULL CHECK (size_bytes > 0),
    sha256         char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    written_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connection_id, register_date)
);

-- ---------------------------------------------------------------- periods
-- Lookups of one BSN use register_periods_bsn_idx (001); sign-off reports use this one.
CREATE INDEX register_periods_end_idx ON register_periods (connection_id, end_date)
    WHERE end_date IS NOT NULL;

-- The periods of a connection that are active on day d (see the date semantics above):
-- the one definition of "subscribed on a date", used by the register's reports, its
-- export and (through register_active_on) delivery's decision at send time. Plain SQL
-- functions: PostgreSQL inlines them into the calling query, so indexes still apply.
CREATE FUNCTION register_periods_active_on(connection_id bigint, d date)
RETURNS TABLE (bsn char(9), begin_date date, end_date date)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT p.bsn, p.begin_date, p.end_date
    FROM register_periods p
    WHERE p.connection_id = $1
      AND p.begin_date <= $2
      AND (p.end_date IS NULL OR p.end_date > $2)
$$;

-- The BSNs subscribed to a connection on day d.
CREATE FUNCTION register_active_on(connection_id bigint, d date)
RETURNS TABLE (bsn char(9))
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT a.bsn FROM register_periods_active_on($1, $2) a
$$;

-- Is one BSN subscribed to a connection on day d?
CREATE FUNCTION register_is_active(connection_id bigint, bsn char(9), d date)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM register_periods_active_on($1, $3) a WHERE a.bsn = $2)
$$;
