-- The platform's own audit trail (modules/audit platform.go, docs/audit.md): operators' sign-ins and what they did
-- to operators and tenants. The same append-only, hash-chained shape as each tenant's audit_log (tenant migration
-- 0002_audit), in the platform schema, so `brokerdesk audit verify --platform` runs the same check.

CREATE TABLE platform.audit_chain (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq  bigint NOT NULL CHECK (last_seq >= 0),
    last_hash bytea NOT NULL CHECK (octet_length(last_hash) = 32)
);
INSERT INTO platform.audit_chain (singleton, last_seq, last_hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE platform.audit_log (
    seq         bigint PRIMARY KEY CHECK (seq > 0),
    created_at  timestamptz NOT NULL,
    actor_kind  text NOT NULL CHECK (actor_kind IN ('staff', 'client', 'operator', 'system', 'api_key')),
    actor_id    text NOT NULL CHECK (actor_id <> ''),
    action      text COLLATE "C" NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
    target_type text NOT NULL CHECK (target_type <> ''),
    target_id   text NOT NULL,
    diff        json NOT NULL,
    ip          text NOT NULL CHECK (ip = '' OR ip::inet IS NOT NULL),
    user_agent  text NOT NULL,
    request_id  text NOT NULL,
    prev_hash   bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash        bytea NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX audit_log_actor ON platform.audit_log (actor_kind, actor_id, seq);
CREATE INDEX audit_log_target ON platform.audit_log (target_type, target_id, seq);
CREATE INDEX audit_log_action ON platform.audit_log (action, seq);

-- Every append extends the head, in the same statement; nothing else moves it.
CREATE FUNCTION platform.audit_log_append() RETURNS trigger
    LANGUAGE plpgsql SET search_path = platform, pg_catalog AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
BEGIN
    SELECT last_seq, last_hash INTO head_seq, head_hash FROM platform.audit_chain FOR UPDATE;
    IF NEW.seq <> head_seq + 1 OR NEW.prev_hash <> head_hash THEN
        RAISE EXCEPTION 'platform.audit_log: row % does not extend the chain (head is row %)', NEW.seq, head_seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    UPDATE platform.audit_chain SET last_seq = NEW.seq, last_hash = NEW.hash;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_log_append BEFORE INSERT ON platform.audit_log FOR EACH ROW EXECUTE FUNCTION platform.audit_log_append();

CREATE FUNCTION platform.audit_chain_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path = platform, pg_catalog AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR pg_trigger_depth() < 2 OR NEW.last_seq <> OLD.last_seq + 1 THEN
        RAISE EXCEPTION 'platform.audit_chain moves only by appending to platform.audit_log'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

-- Rows never change or disappear. The platform's tables belong to the role the application connects as, which
-- could grant itself the privileges back: these triggers refuse UPDATE, DELETE and TRUNCATE whatever the grants
-- (only a superuser disabling triggers gets past them, and verify then names the first row touched).
CREATE FUNCTION platform.audit_log_refuse() RETURNS trigger
    LANGUAGE plpgsql SET search_path = platform, pg_catalog AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON platform.audit_log
    FOR EACH ROW EXECUTE FUNCTION platform.audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON platform.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION platform.audit_log_refuse();
CREATE TRIGGER audit_chain_guard BEFORE UPDATE OR DELETE ON platform.audit_chain
    FOR EACH ROW EXECUTE FUNCTION platform.audit_chain_guard();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON platform.audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION platform.audit_log_refuse();

REVOKE UPDATE, DELETE, TRUNCATE ON platform.audit_log FROM CURRENT_USER;
REVOKE INSERT, DELETE, TRUNCATE ON platform.audit_chain FROM CURRENT_USER;
