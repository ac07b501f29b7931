-- Audit rows join the chain at commit (modules/audit, docs/audit.md). A transaction records its rows in
-- audit_pending, which takes no lock; a deferred trigger appends each to audit_log when the transaction commits,
-- in the order they were recorded, and deletes it. So the chain's head (one row per tenant) is locked only for
-- the commit itself, never while the application does its next round trip: before this, every audited
-- transaction of a tenant held it from its audit append to its commit, and money-moving requests queued there.
--
-- The seal computes the row's hash in Postgres, in exactly the encoding of audit.Row.ComputeHash (which Verify
-- recomputes in Go): each field as its length in bytes (4, big-endian) followed by its bytes:
--   "brokerdesk-audit-v1", prev_hash, seq (decimal), time (YYYY-MM-DDTHH:MM:SS.ffffffZ, UTC), actor kind,
--   actor id, action, target type, target id, ip, user agent, request id, diff (its exact JSON text).
-- The time is read once the head is locked, so time never runs backwards along the chain.

CREATE TABLE audit_pending (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_kind  text NOT NULL,
    actor_id    text NOT NULL,
    action      text COLLATE "C" NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    diff        json NOT NULL,
    ip          text NOT NULL,
    user_agent  text NOT NULL,
    request_id  text NOT NULL
);

CREATE FUNCTION audit_field(b bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN int4send(octet_length(b)) || b;

CREATE FUNCTION audit_seal() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    at        timestamptz;
BEGIN
    SELECT last_seq, last_hash INTO head_seq, head_hash FROM audit_chain FOR UPDATE;
    at := date_trunc('microseconds', clock_timestamp());
    INSERT INTO audit_log (seq, created_at, actor_kind, actor_id, action, target_type, target_id, diff, ip, user_agent,
        request_id, prev_hash, hash)
    VALUES (head_seq + 1, at, NEW.actor_kind, NEW.actor_id, NEW.action, NEW.target_type, NEW.target_id, NEW.diff, NEW.ip,
        NEW.user_agent, NEW.request_id, head_hash, sha256(
            audit_field(convert_to('brokerdesk-audit-v1', 'UTF8')) || audit_field(head_hash)
            || audit_field(convert_to((head_seq + 1)::text, 'UTF8'))
            || audit_field(convert_to(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8'))
            || audit_field(convert_to(NEW.actor_kind, 'UTF8')) || audit_field(convert_to(NEW.actor_id, 'UTF8'))
            || audit_field(convert_to(NEW.action, 'UTF8')) || audit_field(convert_to(NEW.target_type, 'UTF8'))
            || audit_field(convert_to(NEW.target_id, 'UTF8')) || audit_field(convert_to(NEW.ip, 'UTF8'))
            || audit_field(convert_to(NEW.user_agent, 'UTF8')) || audit_field(convert_to(NEW.request_id, 'UTF8'))
            || audit_field(convert_to(NEW.diff::text, 'UTF8'))));
    DELETE FROM audit_pending WHERE id = NEW.id;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER audit_seal AFTER INSERT ON audit_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_seal();

-- Pending rows are written by Record and removed by the seal only.
REVOKE UPDATE, TRUNCATE ON audit_pending FROM CURRENT_USER;
