-- Register periods reference their refreshes with one composite foreign key (issue 17).
-- Runs with search_path = bbx.
--
-- A full list inserts a million periods in one statement, and PostgreSQL checks every
-- foreign key once per row: the two separate keys (connection_id -> connections,
-- opened_by_refresh -> register_refreshes) were a third of that statement's time.
-- (opened_by_refresh, connection_id) -> register_refreshes (id, connection_id) is one
-- check per row and says more: a period is opened (and closed) by a refresh of its own
-- connection. The connection itself still exists through register_refreshes.connection_id.
-- closed_by_refresh is NULL while a period is open (MATCH SIMPLE: then not checked).

ALTER TABLE register_refreshes
    ADD CONSTRAINT register_refreshes_id_connection_key UNIQUE (id, connection_id);

ALTER TABLE register_periods
    DROP CONSTRAINT register_periods_connection_id_fkey,
    DROP CONSTRAINT register_periods_opened_by_refresh_fkey,
    DROP CONSTRAINT register_periods_closed_by_refresh_fkey,
    ADD CONSTRAINT register_periods_opened_by_refresh_fkey
        FOREIGN KEY (opened_by_refresh, connection_id) REFERENCES register_refreshes (id, connection_id),
    ADD CONSTRAINT register_periods_closed_by_refresh_fkey
        FOREIGN KEY (closed_by_refresh, connection_id) REFERENCES register_refreshes (id, connection_id);
