-- A transaction's audit rows join the chain together (modules/audit, docs/audit.md "How the chain works").
--
-- Since 0016 each pending row had its own run of the seal at commit, and each appended row its own run of the
-- append trigger: for a transaction of 64 rows (a group of 64 deposits, docs/payments.md) that was 64 seals, 128
-- locks of the head and 64 updates of it, all while the head was held for the commit. Now:
--   - the first of a transaction's deferred seals to run seals every pending row the transaction can see, in the
--     order they were recorded (the seal of each later row finds its row gone and returns at once). A pending row
--     is visible only to its own transaction: the seal removes it in the transaction that recorded it, so no
--     committed transaction leaves one behind. The rows share the time read once the head is locked;
--   - the append trigger runs once per statement: it checks that the statement's rows extend the chain (numbers
--     following the head's with no gap, each row's prev_hash the hash of the row before it, the first one's the
--     head's), then moves the head once, to the last of them;
--   - the head's guard lets it move forward by as many rows as the statement appended (before, by exactly one).
-- The stored rows, their encoding and hashes, and `audit verify`, are unchanged.

CREATE OR REPLACE FUNCTION audit_seal() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    at        timestamptz;
    at_text   bytea;
    r         record;
    ids       bigint[] := '{}';
    prevs     bytea[] := '{}';
    hashes    bytea[] := '{}';
BEGIN
    PERFORM FROM audit_pending WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL; -- sealed with the transaction's first row
    END IF;
    SELECT last_seq, last_hash INTO head_seq, head_hash FROM audit_chain FOR UPDATE;
    at := date_trunc('microseconds', clock_timestamp());
    at_text := audit_field(convert_to(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8'));
    FOR r IN SELECT * FROM audit_pending ORDER BY id LOOP
        ids := ids || r.id;
        prevs := prevs || head_hash;
        head_seq := head_seq + 1;
        head_hash := sha256(
            audit_field(convert_to('brokerdesk-audit-v1', 'UTF8')) || audit_field(head_hash)
            || audit_field(convert_to(head_seq::text, 'UTF8')) || at_text
            || audit_field(convert_to(r.actor_kind, 'UTF8')) || audit_field(convert_to(r.actor_id, 'UTF8'))
            || audit_field(convert_to(r.action, 'UTF8')) || audit_field(convert_to(r.target_type, 'UTF8'))
            || audit_field(convert_to(r.target_id, 'UTF8')) || audit_field(convert_to(r.ip, 'UTF8'))
            || audit_field(convert_to(r.user_agent, 'UTF8')) || audit_field(convert_to(r.request_id, 'UTF8'))
            || audit_field(convert_to(r.diff::text, 'UTF8')));
        hashes := hashes || head_hash;
    END LOOP;
    INSERT INTO audit_log (seq, created_at, actor_kind, actor_id, action, target_type, target_id, diff, ip, user_agent,
        request_id, prev_hash, hash)
    SELECT head_seq - cardinality(ids) + s.k, at, p.actor_kind, p.actor_id, p.action, p.target_type, p.target_id, p.diff,
        p.ip, p.user_agent, p.request_id, s.prev, s.hash
    FROM unnest(ids, prevs, hashes) WITH ORDINALITY AS s (id, prev, hash, k) JOIN audit_pending p ON p.id = s.id
    ORDER BY s.k;
    DELETE FROM audit_pending WHERE id = ANY (ids);
    RETURN NULL;
END $$;

DROP TRIGGER audit_log_append ON audit_log;
CREATE OR REPLACE FUNCTION audit_log_append() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    bad       bigint;
    last_seq_ bigint;
    last_hash_ bytea;
BEGIN
    SELECT last_seq, last_hash INTO head_seq, head_hash FROM audit_chain FOR UPDATE;
    SELECT a.seq INTO bad FROM (
        SELECT seq, prev_hash, lag(hash) OVER (ORDER BY seq) AS before, row_number() OVER (ORDER BY seq) AS k FROM added
    ) a WHERE a.seq <> head_seq + a.k OR a.prev_hash <> coalesce(a.before, head_hash)
    ORDER BY a.seq LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'audit_log: row % does not extend the chain (head is row %)', bad, head_seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    SELECT seq, hash INTO last_seq_, last_hash_ FROM added ORDER BY seq DESC LIMIT 1;
    IF FOUND THEN
        UPDATE audit_chain SET last_seq = last_seq_, last_hash = last_hash_;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_log_append AFTER INSERT ON audit_log REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append();

CREATE OR REPLACE FUNCTION audit_chain_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR pg_trigger_depth() < 2 OR NEW.last_seq <= OLD.last_seq THEN
        RAISE EXCEPTION 'audit_chain moves only by appending to audit_log'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
