-- The platform's audit rows join its chain at commit, as each tenant's do (tenant migration
-- 0016_audit_sealed_at_commit, which explains the seal and the hash it computes).

CREATE TABLE platform.audit_pending (
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

CREATE FUNCTION platform.audit_field(b bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN int4send(octet_length(b)) || b;

CREATE FUNCTION platform.audit_seal() RETURNS trigger
    LANGUAGE plpgsql SET search_path = platform, pg_catalog AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    at        timestamptz;
BEGIN
    SELECT last_seq, last_hash INTO head_seq, head_hash FROM platform.audit_chain FOR UPDATE;
    at := date_trunc('microseconds', clock_timestamp());
    INSERT INTO platform.audit_log (seq, created_at, actor_kind, actor_id, action, target_type, target_id, diff, ip,
        user_agent, request_id, prev_hash, hash)
    VALUES (head_seq + 1, at, NEW.actor_kind, NEW.actor_id, NEW.action, NEW.target_type, NEW.target_id, NEW.diff, NEW.ip,
        NEW.user_agent, NEW.request_id, head_hash, sha256(
            platform.audit_field(convert_to('brokerdesk-audit-v1', 'UTF8')) || platform.audit_field(head_hash)
            || platform.audit_field(convert_to((head_seq + 1)::text, 'UTF8'))
            || platform.audit_field(convert_to(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8'))
            || platform.audit_field(convert_to(NEW.actor_kind, 'UTF8')) || platform.audit_field(convert_to(NEW.actor_id, 'UTF8'))
            || platform.audit_field(convert_to(NEW.action, 'UTF8')) || platform.audit_field(convert_to(NEW.target_type, 'UTF8'))
            || platform.audit_field(convert_to(NEW.target_id, 'UTF8')) || platform.audit_field(convert_to(NEW.ip, 'UTF8'))
            || platform.audit_field(convert_to(NEW.user_agent, 'UTF8')) || platform.audit_field(convert_to(NEW.request_id, 'UTF8'))
            || platform.audit_field(convert_to(NEW.diff::text, 'UTF8'))));
    DELETE FROM platform.audit_pending WHERE id = NEW.id;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER audit_seal AFTER INSERT ON platform.audit_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION platform.audit_seal();

REVOKE UPDATE, TRUNCATE ON platform.audit_pending FROM CURRENT_USER;
