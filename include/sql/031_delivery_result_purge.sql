-- Result files hold BSNs: they leave the tenant's outbox after the connection's retention
-- period, like intake's reports. results_purged_at: when they were removed (NULL: not yet).
ALTER TABLE submissions ADD COLUMN results_purged_at timestamptz;
CREATE INDEX submissions_results_to_purge_idx ON submissions (results_written_at)
    WHERE results_written_at IS NOT NULL AND results_purged_at IS NULL;
