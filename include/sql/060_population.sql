-- The population of a connection (issue 16): the BSNs the tenant serves (its
-- "afnemersindicaties" in the BRP), handed in by the tenant, never sent to MijnOverheid.
-- Owned by bbx.store.population. Runs with search_path = bbx.
--
-- Every hand-in is a submission (kind 'population') and one version here; membership is
-- history like the register: a member row is opened by the version that added the BSN
-- and closed by the version that removed it (removed_by NULL: a member now).

ALTER TABLE submissions
    ADD COLUMN kind text NOT NULL DEFAULT 'messages' CHECK (kind IN ('messages', 'population'));

ALTER TABLE sftp_drops
    ADD COLUMN kind text NOT NULL DEFAULT 'messages' CHECK (kind IN ('messages', 'population'));

-- One applied hand-in of a population list. mode: 'full' replaces the population,
-- 'additions' adds BSNs, 'removals' removes them. Counts for the tenant's acknowledgement.
CREATE TABLE population_versions (
    id             bigserial PRIMARY KEY,
    connection_id  bigint NOT NULL REFERENCES connections(id),
    submission_id  bigint NOT NULL UNIQUE REFERENCES submissions(id),
    version        integer NOT NULL CHECK (version >= 1),
    mode           text NOT NULL CHECK (mode IN ('full', 'additions', 'removals')),
    rows_handed_in integer NOT NULL CHECK (rows_handed_in >= 0),
    rows_rejected  integer NOT NULL CHECK (rows_rejected >= 0),
    added          integer NOT NULL CHECK (added >= 0),
    removed        integer NOT NULL CHECK (removed >= 0),
    unchanged      integer NOT NULL CHECK (unchanged >= 0),  -- valid rows that changed nothing
    members        integer NOT NULL CHECK (members >= 0),    -- the population after this version
    applied_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connection_id, version)
);

-- Written only by bbx.store.population, in one set-based statement per hand-in:
-- connection_id is the connection of version added_by, and added_by / removed_by name rows
-- of population_versions. No foreign keys here on purpose: each is a trigger call per row
-- (a million-row list pays seconds for them); the store writes these ids from the version
-- row it has just inserted in the same transaction.
CREATE TABLE population_members (
    connection_id  bigint NOT NULL,
    bsn            char(9) NOT NULL CHECK (bsn ~ '^[0-9]{9}$'),
    added_by       bigint NOT NULL,
    removed_by     bigint,
    CHECK (removed_by IS NULL OR removed_by > added_by)
);
-- A BSN is a member at most once at a time; the intersection with the register, the person
-- view and the set-based apply use this index (the only one: history is read rarely).
CREATE UNIQUE INDEX population_members_current ON population_members (connection_id, bsn)
    WHERE removed_by IS NULL;

-- register_export: which BSNs the daily export holds. 'full': the whole register (the
-- behaviour before issue 16, and what register_export: true means); 'population': the
-- register intersected with the connection's population.
ALTER TABLE connections
    ADD COLUMN register_export_scope text NOT NULL DEFAULT 'full'
        CHECK (register_export_scope IN ('full', 'population'));

-- What an export held: scope and, for 'population', the counts of its companion file.
ALTER TABLE register_exports
    ADD COLUMN scope text NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'population')),
    ADD COLUMN population_version integer,
    ADD COLUMN subscribed_in_population integer CHECK (subscribed_in_population >= 0),
    ADD COLUMN subscribed_outside_population integer CHECK (subscribed_outside_population >= 0),
    ADD COLUMN companion_path text;

-- API key scopes: 'full' (everything the role allows, the keys before issue 16) or
-- 'person_view' (only the person view a BRP system calls: no sending, no reports).
ALTER TABLE api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'person_view'));
