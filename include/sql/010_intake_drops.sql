-- SFTP intake: one row per drop folder BBX picked up (owned by bbx.intake).
-- Runs with search_path = bbx.
--
-- A drop moves inbox/ → processing/ → archive/ on SFTP; this row says how far it got,
-- so a rerun after a crash continues where it stopped (and never starts a drop twice):
--   received   claimed (moved to processing/), every file hashed and logged in the
--              submission, decision taken (validate / duplicate / rejected) — one transaction
--   validated  rows written (or the drop rejected as a whole); error reports in outbox/
--   done       acknowledgement in outbox/, drop moved to archive/
-- drop_key + fingerprint recognise a re-upload of a drop that was already accepted.
CREATE TABLE sftp_drops (
    id                 bigserial PRIMARY KEY,
    connection_id      bigint NOT NULL REFERENCES connections(id),
    name               text NOT NULL,                 -- the folder name in inbox/ and processing/
    marker             text,                          -- manifest.json | READY | ...
    drop_key           text,                          -- the manifest's drop_id (NULL: none given)
    fingerprint        char(64),                      -- sha256 over message type + files' names and hashes
    message_type_code  text,
    submission_id      bigint NOT NULL UNIQUE REFERENCES submissions(id),
    state              text NOT NULL DEFAULT 'received'
                       CHECK (state IN ('received', 'validated', 'done')),
    decision           text NOT NULL CHECK (decision IN ('validate', 'duplicate', 'rejected')),
    row_count          integer CHECK (row_count >= 0),  -- rows in the drop's list(s), once checked
    duplicate_of       bigint REFERENCES submissions(id),
    problems           jsonb NOT NULL DEFAULT '[]'::jsonb,  -- drop-level problems [{file, reason}]
    notes              jsonb NOT NULL DEFAULT '[]'::jsonb,  -- remarks for the tenant (e.g. repaired BSNs)
    reports            jsonb NOT NULL DEFAULT '[]'::jsonb,  -- file names written to outbox/
    archive_path       text,
    received_at        timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    purged_at          timestamptz,                   -- archive folder removed (retention)
    CHECK ((state = 'done') = (finished_at IS NOT NULL)),
    CHECK (decision <> 'duplicate' OR duplicate_of IS NOT NULL)
);
-- At most one drop of a given name is in flight per connection (processing/<name>).
CREATE UNIQUE INDEX sftp_drops_in_flight ON sftp_drops (connection_id, name) WHERE state <> 'done';
CREATE INDEX sftp_drops_key_idx ON sftp_drops (connection_id, drop_key) WHERE drop_key IS NOT NULL;
CREATE INDEX sftp_drops_fingerprint_idx ON sftp_drops (connection_id, fingerprint);
