-- The *test* API key kind and sandbox submissions (issue 14).
--
-- A test key's hand-ins are sandbox submissions: delivered through the deployment's
-- sandbox endpoint (Airflow Connection bbx_berichtenbox_sandbox: the simulator or a
-- sink), never through the live ebMS adapter. The rule is bbx.domain.delivery
-- (check_transport), enforced at the last step before the transport (bbx.delivery.send).
ALTER TABLE api_keys ADD COLUMN kind text NOT NULL DEFAULT 'live' CHECK (kind IN ('live', 'test'));

ALTER TABLE submissions ADD COLUMN sandbox boolean NOT NULL DEFAULT false;

-- An idempotency key (external_ref) names a hand-in within its kind: the same key used
-- with a live and with a test key are two different hand-ins, never each other's answer.
ALTER TABLE submissions DROP CONSTRAINT submissions_connection_id_channel_external_ref_key;
ALTER TABLE submissions ADD CONSTRAINT submissions_connection_channel_sandbox_ref_key
    UNIQUE (connection_id, channel, sandbox, external_ref);

-- Reports and the sandbox's own daily cap read sandbox submissions apart.
CREATE INDEX submissions_sandbox_idx ON submissions (connection_id, received_at) WHERE sandbox;
