-- Access to BBX's web service and pages (issue 7): API keys and page sessions.
--
-- An API key is shown once, when it is created; only its SHA-256 is stored (the key
-- has 256 bits of randomness, so a plain hash is enough: no salt or slow hash needed).
-- ``prefix`` is the key's public part (``bbx_<prefix>_<secret>``): it names the key in
-- lists, audit records and ``submitted_by`` without revealing it.
-- A tenant key sees only its own tenant's connections; an operator key sees all.
CREATE TABLE api_keys (
    id            bigserial PRIMARY KEY,
    prefix        text NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{8}$'),
    key_sha256    char(64) NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    role          text NOT NULL CHECK (role IN ('tenant', 'operator')),
    tenant_id     bigint REFERENCES tenants(id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    CHECK ((role = 'tenant') = (tenant_id IS NOT NULL))
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

-- A signed-in browser (the BBX pages outside the Airflow UI): the cookie holds a random
-- token, the database its SHA-256. Ends at expires_at, at sign-out, or when the key is revoked.
CREATE TABLE web_sessions (
    token_sha256  char(64) PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    api_key_id    bigint NOT NULL REFERENCES api_keys(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX web_sessions_key_idx ON web_sessions (api_key_id);

-- Reports and lookups read messages by connection and time.
CREATE INDEX api_messages_sent_idx ON messages (connection_id, sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX api_messages_final_idx ON messages (connection_id, final_at) WHERE final_at IS NOT NULL;
CREATE INDEX api_submissions_received_idx ON submissions (connection_id, received_at);
