-- The audit trail (modules/audit, docs/audit.md): an append-only log of every state-changing action in this
-- brokerage, chained row to row by SHA-256. Runs inside the tenant scope as the tenant's own role, which is also
-- the role the application uses at run time: everything below is aimed at that role.

-- The head of the chain: the last appended row's seq and hash, in exactly one row. Appenders lock it (SELECT ...
-- FOR UPDATE), which serialises appends per tenant so the chain stays linear; Verify compares it with the last row,
-- so rows deleted from the end of the log are noticed too.
CREATE TABLE audit_chain (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq  bigint NOT NULL CHECK (last_seq >= 0),
    last_hash bytea NOT NULL CHECK (octet_length(last_hash) = 32)
);
INSERT INTO audit_chain (singleton, last_seq, last_hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));

-- One row per action. Every column except hash is covered by hash (see docs/audit.md for the exact encoding), and
-- prev_hash is the previous row's hash. diff is json, not jsonb, because json keeps the exact bytes that were
-- hashed; ip is the canonical text Go wrote, for the same reason (cast it to inet to query by network).
CREATE TABLE audit_log (
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

-- List filters by actor, target, action prefix or time and pages newest first by seq. action is COLLATE "C" so a
-- prefix is a plain byte range (action >= p AND action < p'), which a btree serves even in a generic plan.
-- created_at grows with seq (it is read after the chain lock), so a time range is also a seq range.
CREATE INDEX audit_log_actor ON audit_log (actor_kind, actor_id, seq);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_created_at ON audit_log (created_at);

-- Every append must extend the head: the database itself refuses a row that skips a seq or does not link to the
-- last hash, whatever the application does, and moves the head in the same statement.
CREATE FUNCTION audit_log_append() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
BEGIN
    SELECT last_seq, last_hash INTO head_seq, head_hash FROM audit_chain FOR UPDATE;
    IF NEW.seq <> head_seq + 1 OR NEW.prev_hash <> head_hash THEN
        RAISE EXCEPTION 'audit_log: row % does not extend the chain (head is row %)', NEW.seq, head_seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    UPDATE audit_chain SET last_seq = NEW.seq, last_hash = NEW.hash;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_log_append BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append();

-- The head moves only from inside audit_log_append (trigger depth 2), one row at a time.
CREATE FUNCTION audit_chain_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR pg_trigger_depth() < 2 OR NEW.last_seq <> OLD.last_seq + 1 THEN
        RAISE EXCEPTION 'audit_chain moves only by appending to audit_log'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

-- Rows never change or disappear. The REVOKEs below already stop the application's role; these triggers also stop
-- a role that was granted the privileges back, or one that bypasses privileges.
CREATE FUNCTION audit_log_refuse() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_chain_guard BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_chain_guard();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();

-- CURRENT_USER is the tenant role: the owner, and the role the application runs tenant SQL as.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;
REVOKE INSERT, DELETE, TRUNCATE ON audit_chain FROM CURRENT_USER;
