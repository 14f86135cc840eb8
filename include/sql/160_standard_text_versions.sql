-- Standard texts versioned (issue 18). Runs with search_path = bbx.
--
-- Every change of a message type's standard text is a new row here: from the config
-- apply, an upload (SFTP standard-texts/<CODE>.txt or the web service), or an operator's
-- rollback (a copy of an older version). message_types.standard_text stays the current
-- text (the newest version's), so every reader of the current text is unchanged; a
-- message records the version it was planned with and is built from that version.
-- When the config adds a version: bbx.domain.standard_texts.config_adds_version.

CREATE TABLE standard_text_versions (
    id               bigserial PRIMARY KEY,
    message_type_id  bigint NOT NULL REFERENCES message_types(id),
    version          integer NOT NULL CHECK (version >= 1),
    text             text CHECK (text IS NULL OR char_length(text) BETWEEN 1 AND 4000),  -- NULL: no standard text
    source           text NOT NULL CHECK (source IN ('config', 'sftp', 'api', 'rollback')),
    actor            text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sha256           char(64),
    rolled_back_from integer,  -- the version a rollback copied
    UNIQUE (message_type_id, version)
);

-- Today's texts become version 1, from the config.
INSERT INTO standard_text_versions (message_type_id, version, text, source, actor, sha256)
SELECT id, 1, standard_text, 'config', 'bbx:migration-160',
       CASE WHEN standard_text IS NULL THEN NULL ELSE encode(sha256(convert_to(standard_text, 'UTF8')), 'hex') END
FROM message_types;

ALTER TABLE messages ADD COLUMN standard_text_version_id bigint REFERENCES standard_text_versions(id);
