-- People and roles (issue 14): named accounts for people, separate from API keys for systems.
--
-- One place for people: the BBX auth manager (bbx.auth_manager) signs them in to the
-- Airflow UI from this table, and the BBX pages sign them in from it too.
--   operator — the intermediary: everything, all tenants (Airflow admin)
--   tenant   — one tenant's staff: send, look up, reports, submissions, that tenant's keys
--   auditor  — read-only: submissions, outcomes, audit log; no personal content
-- Passwords: scrypt (bbx.store.users), never the password itself.
CREATE TABLE bbx_users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{1,62}$'),
    full_name      text NOT NULL DEFAULT '' CHECK (length(full_name) <= 200),
    role           text NOT NULL CHECK (role IN ('operator', 'tenant', 'auditor')),
    tenant_id      bigint REFERENCES tenants(id),
    password_hash  text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    password_set_at timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz,
    disabled_at    timestamptz,
    CHECK ((role = 'tenant') = (tenant_id IS NOT NULL))
);
CREATE INDEX bbx_users_tenant_idx ON bbx_users (tenant_id);

-- A page session belongs to a person (user_id) or, as before, to a key (api_key_id).
ALTER TABLE web_sessions ALTER COLUMN api_key_id DROP NOT NULL;
ALTER TABLE web_sessions ADD COLUMN user_id bigint REFERENCES bbx_users(id);
ALTER TABLE web_sessions ADD CONSTRAINT web_sessions_one_owner CHECK ((api_key_id IS NULL) <> (user_id IS NULL));
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id);

-- API keys get an expiry (a key from before this migration: a year from now).
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
UPDATE api_keys SET expires_at = now() + interval '1 year' WHERE expires_at IS NULL;
ALTER TABLE api_keys ALTER COLUMN expires_at SET NOT NULL;
