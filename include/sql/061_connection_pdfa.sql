-- Personal PDFs that do not claim PDF/A: 'warn' sends them with a note in the tenant's
-- acknowledgement, 'strict' refuses them (tenant configuration: connections[].pdfa).
ALTER TABLE connections ADD COLUMN pdfa text NOT NULL DEFAULT 'warn' CHECK (pdfa IN ('warn', 'strict'));
