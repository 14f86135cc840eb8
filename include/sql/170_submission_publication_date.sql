-- The publication date a submission was scheduled with (issue 18), beside send_at, so the
-- status, the acknowledgement and the pages show it without reading the messages
-- (messages.publication_date stays what a batch is built from). Runs with search_path = bbx.

ALTER TABLE submissions ADD COLUMN publication_date date;
