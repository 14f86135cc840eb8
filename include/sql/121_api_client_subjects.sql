-- Client certificates for the web service (issue 19, bbx.api.client_certs): subjects an
-- operator registered for a tenant (bbx client-cert add), for certificates that do not
-- carry a connection's OIN as serialNumber. The subject is the RFC 4514 string, exactly
-- as `bbx client-cert add` printed it back.
CREATE TABLE api_client_subjects (
    subject    text        PRIMARY KEY CHECK (length(subject) BETWEEN 3 AND 1000),
    tenant_id  bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
