-- The language of a connection's tenant-facing texts (issue 14): the acknowledgements,
-- error reports, result files and undeliverable lists written to its outbox, and the
-- web service and pages of its tenant unless a request asks otherwise (Accept-Language,
-- the pages' NL/EN switch). Tenant configuration: connections[].language.
ALTER TABLE connections ADD COLUMN language text NOT NULL DEFAULT 'nl' CHECK (language IN ('nl', 'en'));
