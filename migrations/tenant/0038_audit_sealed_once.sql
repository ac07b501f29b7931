-- A transaction's audit rows join the chain together (modules/audit, docs/audit.md "How the chain works").
--
-- Since 0016 each pending row had its own run of the seal at commit, and each appended row its own run of the
-- append trigger: for a transaction of 64 rows (a group of 64 deposits, docs/payments.md) that was 64 seals, 128
-- locks of the head and 64 updates of it, all while the head was held for the commit. Now:
--   - the first of a transaction's deferred seals to run seals its row and every pending row after it that the
--     transaction can see, in the order they were recorded (the seal of each later row finds its row gone and
--     returns at once). A pending row is visible only to its own transaction: the seal removes it in the
--     transaction that recorded it, so no committed transaction leaves one behind. The rows share the time read
--     once the head is locked. A transaction's only row (most transactions have one) is appended as it is;
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
    prev      bytea;
    at        timestamptz;
    at_text   bytea;
    r         audit_pending;
    nxt       audit_pending;
    more      boolean;
    rows      audit_pending[] := '{}';
    prevs     bytea[] := '{}';
    hashes    bytea[] := '{}';
BEGIN
    -- Rows are read by their key, one after the other (an index probe each: a range read of this table, whose rows
    -- come and go all day, is planned as a scan of its dead rows).
    PERFORM FROM audit_pending WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL; -- sealed with the transaction's first row
    END IF;
    SELECT last_seq, last_hash INTO head_seq, head_hash FROM audit_chain FOR UPDATE;
    at := date_trunc('microseconds', clock_timestamp());
    at_text := audit_field(convert_to(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8'));
    r := NEW;
    LOOP
        prev := head_hash;
        head_seq := head_seq + 1;
        head_hash := sha256(
            audit_field(convert_to('brokerdesk-audit-v1', 'UTF8')) || audit_field(prev)
            || audit_field(convert_to(head_seq::text, 'UTF8')) || at_text
            || audit_field(convert_to(r.actor_kind, 'UTF8')) || audit_field(convert_to(r.actor_id, 'UTF8'))
            || audit_field(convert_to(r.action, 'UTF8')) || audit_field(convert_to(r.target_type, 'UTF8'))
            || audit_field(convert_to(r.target_id, 'UTF8')) || audit_field(convert_to(r.ip, 'UTF8'))
            || audit_field(convert_to(r.user_agent, 'UTF8')) || audit_field(convert_to(r.request_id, 'UTF8'))
            || audit_field(convert_to(r.diff::text, 'UTF8')));
        SELECT * INTO nxt FROM audit_pending WHERE id > r.id ORDER BY id LIMIT 1;
        more := FOUND;
        IF NOT more AND r.id = NEW.id THEN
            -- The transaction's only row, as most transactions have: appended as it is.
            INSERT INTO audit_log (seq, created_at, actor_kind, actor_id, action, target_type, target_id, diff, ip,
                user_agent, request_id, prev_hash, hash)
            VALUES (head_seq, at, NEW.actor_kind, NEW.actor_id, NEW.action, NEW.target_type, NEW.target_id, NEW.diff,
                NEW.ip, NEW.user_agent, NEW.request_id, prev, head_hash);
            DELETE FROM audit_pending WHERE id = NEW.id;
            RETURN NULL;
        END IF;
        rows := rows || r;
        prevs := prevs || prev;
        hashes := hashes || head_hash;
        EXIT WHEN NOT more;
        r := nxt;
    END LOOP;
    INSERT INTO audit_log (seq, created_at, actor_kind, actor_id, action, target_type, target_id, diff, ip, user_agent,
        request_id, prev_hash, hash)
    SELECT head_seq - cardinality(rows) + p.ordinality, at, p.actor_kind, p.actor_id, p.action, p.target_type,
        p.target_id, p.diff, p.ip, p.user_agent, p.request_id, c.prev, c.hash
    FROM unnest(rows) WITH ORDINALITY AS p JOIN unnest(prevs, hashes) WITH ORDINALITY AS c (prev, hash, k) ON c.k = p.ordinality
    ORDER BY p.ordinality;
    DELETE FROM audit_pending WHERE id IN (SELECT p.id FROM unnest(rows) AS p);
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
