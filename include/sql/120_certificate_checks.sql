-- The daily certificate watch's last finding per connection (issue 19), so that the BBX
-- status page shows operators what the watch found without reading task logs: one row a
-- connection, replaced by every run. A connection never checked has no row.
CREATE TABLE certificate_checks (
    connection_id integer     PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    checked_at    timestamptz NOT NULL,
    warnings      text[]      NOT NULL DEFAULT '{}',
    failures      text[]      NOT NULL DEFAULT '{}'
);
