-- Limits per tenant on the web service's send endpoint (issue 19): per connection a rate
-- (requests per minute), a concurrency (requests at once) and an optional daily cap on
-- messages handed in (tenant configuration: connections[].send_limits). API keys get
-- the defaults of bbx.api.limits. The state is here, not in a worker's memory, so that
-- every api-server worker counts the same requests.
ALTER TABLE connections
    ADD COLUMN rate_limit_per_minute integer NOT NULL DEFAULT 60 CHECK (rate_limit_per_minute >= 1),
    ADD COLUMN concurrency_limit integer NOT NULL DEFAULT 4 CHECK (concurrency_limit >= 1),
    ADD COLUMN daily_message_cap integer CHECK (daily_message_cap >= 1);

-- Fixed one-minute windows: requests counted per subject ('key:<prefix>' or 'connection:<id>').
CREATE TABLE send_rate_windows (
    subject      text        NOT NULL,
    window_start timestamptz NOT NULL,
    requests     integer     NOT NULL,
    PRIMARY KEY (subject, window_start)
);

-- Requests running now; a row outlives a crashed worker only until expires_at.
CREATE TABLE send_inflight (
    id         bigserial   PRIMARY KEY,
    subject    text        NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX send_inflight_subject ON send_inflight (subject, expires_at);
