-- The audit log made tamper-evident and readable (issue 14). Runs with search_path = bbx.
--
-- Every entry gets an outcome ('ok' or 'refused' with a reason) and a place in a hash
-- chain: seq (1, 2, 3, ... without gaps), prev_hash (the hash of entry seq-1; NULL for
-- the first) and hash = sha256 of a canonical form of (seq, prev_hash, id, at, actor,
-- action, tenant, connection, submission, details, outcome, reason). The canonical form
-- is written once here (audit_log_digest) and once in Python (bbx.domain.audit_chain),
-- so that `bbx audit verify` checks the chain without trusting this function.
--
-- Who computes it: the database, so no writer can skip it. An entry is sealed when its
-- transaction commits (a deferred constraint trigger), under an advisory lock that
-- serialises sealing: the chain follows commit order, and the lock is held only while
-- a transaction commits, not while it works (no writer waits for another's long work,
-- no deadlock with row locks). Sealing is the one UPDATE the log allows: it sets the
-- chain columns of an unsealed entry and nothing else; a sealed entry never changes.
--
-- tenant_id and connection_id are filled from the submission/connection when the writer
-- gave only those, so that a tenant's entries are found by tenant_id alone.

ALTER TABLE audit_log
    ADD COLUMN outcome   text NOT NULL DEFAULT 'ok',
    ADD COLUMN reason    text,
    ADD COLUMN seq       bigint,
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash      bytea,
    ADD CONSTRAINT audit_log_outcome CHECK (
        (outcome = 'ok' AND reason IS NULL) OR (outcome = 'refused' AND coalesce(reason, '') <> ''));

DROP TRIGGER audit_log_is_append_only ON audit_log;

UPDATE audit_log a SET connection_id = s.connection_id
  FROM submissions s WHERE a.connection_id IS NULL AND a.submission_id = s.id;
UPDATE audit_log a SET tenant_id = c.tenant_id
  FROM connections c WHERE a.tenant_id IS NULL AND a.connection_id = c.id;

-- One field of the canonical form: '<length>:<text>;' or '-;' for NULL (unambiguous).
CREATE FUNCTION audit_log_field(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v IS NULL THEN '-;' ELSE length(v)::text || ':' || v || ';' END
$$;

CREATE FUNCTION audit_log_digest(e audit_log) RETURNS bytea LANGUAGE sql STABLE
SET search_path FROM CURRENT AS $$
    SELECT sha256(convert_to(
        'bbx-audit-v1;'
        || audit_log_field(e.seq::text)
        || audit_log_field(encode(e.prev_hash, 'hex'))
        || audit_log_field(e.id::text)
        || audit_log_field(to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        || audit_log_field(e.actor)
        || audit_log_field(e.action)
        || audit_log_field(e.tenant_id::text)
        || audit_log_field(e.connection_id::text)
        || audit_log_field(e.submission_id::text)
        || audit_log_field(e.details::text)
        || audit_log_field(e.outcome)
        || audit_log_field(e.reason),
        'UTF8'))
$$;

-- Existing entries: chained in id order.
DO $$
DECLARE
    r audit_log;
    prev bytea;
    n bigint := 0;
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        n := n + 1;
        r.seq := n;
        r.prev_hash := prev;
        r.hash := audit_log_digest(r);
        UPDATE audit_log SET seq = r.seq, prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
        prev := r.hash;
    END LOOP;
END $$;

-- Partial: unsealed entries (seq NULL) are not in it, so the last sealed entry is the
-- first the index gives backwards, however many a transaction has yet to seal.
CREATE UNIQUE INDEX audit_log_seq_unique ON audit_log (seq) WHERE seq IS NOT NULL;

CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE FUNCTION audit_log_prepare() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    NEW.seq := NULL;  -- the chain is the database's, never the writer's
    NEW.prev_hash := NULL;
    NEW.hash := NULL;
    IF NEW.connection_id IS NULL AND NEW.submission_id IS NOT NULL THEN
        SELECT connection_id INTO NEW.connection_id FROM submissions WHERE id = NEW.submission_id;
    END IF;
    IF NEW.tenant_id IS NULL AND NEW.connection_id IS NOT NULL THEN
        SELECT tenant_id INTO NEW.tenant_id FROM connections WHERE id = NEW.connection_id;
    END IF;
    RETURN NEW;
END $$;

-- BEFORE UPDATE: refuse every update but sealing an unsealed entry, which it does itself.
CREATE FUNCTION audit_log_seal() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    head_seq bigint;
    head_hash bytea;
BEGIN
    IF OLD.seq IS NOT NULL
       OR (NEW.id, NEW.at, NEW.actor, NEW.action, NEW.tenant_id, NEW.connection_id, NEW.submission_id,
           NEW.details, NEW.outcome, NEW.reason)
          IS DISTINCT FROM
          (OLD.id, OLD.at, OLD.actor, OLD.action, OLD.tenant_id, OLD.connection_id, OLD.submission_id,
           OLD.details, OLD.outcome, OLD.reason) THEN
        RAISE EXCEPTION 'the audit log is append-only (UPDATE refused)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM pg_advisory_xact_lock(196084032);  -- 0x0BB00140: sealing, one transaction at a time
    SELECT seq, hash INTO head_seq, head_hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(head_seq, 0) + 1;
    NEW.prev_hash := head_hash;
    NEW.hash := audit_log_digest(NEW);
    RETURN NEW;
END $$;

-- At commit: seal each entry the transaction wrote, in the order written.
CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE audit_log SET seq = NULL WHERE id = NEW.id AND seq IS NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER audit_log_prepare BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_prepare();
CREATE TRIGGER audit_log_seal BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_seal();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE CONSTRAINT TRIGGER audit_log_chain AFTER INSERT ON audit_log
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
