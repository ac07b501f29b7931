-- The platform's audit rows join its chain the way a tenant's do since tenant migration 0038: a transaction's rows
-- are sealed together by the first of its deferred seals, and the append trigger checks a statement's rows and
-- moves the head once (see that migration for the details). The stored rows and their hashes are unchanged.

CREATE OR REPLACE FUNCTION platform.audit_seal() RETURNS trigger
    LANGUAGE plpgsql SET search_path = platform, pg_catalog AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    prev      bytea;
    at        timestamptz;
    at_text   bytea;
    r         platform.audit_pending;
    nxt       platform.audit_pending;
    more      boolean;
    rows      platform.audit_pending[] := '{}';
    prevs     bytea[] := '{}';
    hashes    bytea[] := '{}';
BEGIN
    -- Rows are read by their key, one after the other (an index probe each: a range read of this table, whose rows
    -- come and go all day, is planned as a scan of its dead rows).
    PERFORM FROM platform.audit_pending WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL; -- sealed with the transaction's first row
    END IF;
    SELECT last_seq, last_hash INTO head_seq, head_hash FROM platform.audit_chain FOR UPDATE;
    at := date_trunc('microseconds', clock_timestamp());
    at_text := platform.audit_field(convert_to(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8'));
    r := NEW;
    LOOP
        prev := head_hash;
        head_seq := head_seq + 1;
        head_hash := sha256(
            platform.audit_field(convert_to('brokerdesk-audit-v1', 'UTF8')) || platform.audit_field(prev)
            || platform.audit_field(convert_to(head_seq::text, 'UTF8')) || at_text
            || platform.audit_field(convert_to(r.actor_kind, 'UTF8')) || platform.audit_field(convert_to(r.actor_id, 'UTF8'))
            || platform.audit_field(convert_to(r.action, 'UTF8')) || platform.audit_field(convert_to(r.target_type, 'UTF8'))
            || platform.audit_field(convert_to(r.target_id, 'UTF8')) || platform.audit_field(convert_to(r.ip, 'UTF8'))
            || platform.audit_field(convert_to(r.user_agent, 'UTF8')) || platform.audit_field(convert_to(r.request_id, 'UTF8'))
            || platform.audit_field(convert_to(r.diff::text, 'UTF8')));
        SELECT * INTO nxt FROM platform.audit_pending WHERE id > r.id ORDER BY id LIMIT 1;
        more := FOUND;
        IF NOT more AND r.id = NEW.id THEN
            -- The transaction's only row, as most transactions have: appended as it is.
            INSERT INTO platform.audit_log (seq, created_at, actor_kind, actor_id, action, target_type, target_id, diff, ip,
                user_agent, request_id, prev_hash, hash)
            VALUES (head_seq, at, NEW.actor_kind, NEW.actor_id, NEW.action, NEW.target_type, NEW.target_id, NEW.diff,
                NEW.ip, NEW.user_agent, NEW.request_id, prev, head_hash);
            DELETE FROM platform.audit_pending WHERE id = NEW.id;
            RETURN NULL;
        END IF;
        rows := rows || r;
        prevs := prevs || prev;
        hashes := hashes || head_hash;
        EXIT WHEN NOT more;
        r := nxt;
    END LOOP;
    INSERT INTO platform.audit_log (seq, created_at, actor_kind, actor_id, action, target_type, target_id, diff, ip, user_agent,
        request_id, prev_hash, hash)
    SELECT head_seq - cardinality(rows) + p.ordinality, at, p.actor_kind, p.actor_id, p.action, p.target_type,
        p.target_id, p.diff, p.ip, p.user_agent, p.request_id, c.prev, c.hash
    FROM unnest(rows) WITH ORDINALITY AS p JOIN unnest(prevs, hashes) WITH ORDINALITY AS c (prev, hash, k) ON c.k = p.ordinality
    ORDER BY p.ordinality;
    DELETE FROM platform.audit_pending WHERE id IN (SELECT p.id FROM unnest(rows) AS p);
    RETURN NULL;
END $$;

DROP TRIGGER audit_log_append ON platform.audit_log;
CREATE OR REPLACE FUNCTION platform.audit_log_append() RETURNS trigger
    LANGUAGE plpgsql SET search_path = platform, pg_catalog AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    bad       bigint;
    last_seq_ bigint;
    last_hash_ bytea;
BEGIN
    SELECT last_seq, last_hash INTO head_seq, head_hash FROM platform.audit_chain FOR UPDATE;
    SELECT a.seq INTO bad FROM (
        SELECT seq, prev_hash, lag(hash) OVER (ORDER BY seq) AS before, row_number() OVER (ORDER BY seq) AS k FROM added
    ) a WHERE a.seq <> head_seq + a.k OR a.prev_hash <> coalesce(a.before, head_hash)
    ORDER BY a.seq LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'platform.audit_log: row % does not extend the chain (head is row %)', bad, head_seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    SELECT seq, hash INTO last_seq_, last_hash_ FROM added ORDER BY seq DESC LIMIT 1;
    IF FOUND THEN
        UPDATE platform.audit_chain SET last_seq = last_seq_, last_hash = last_hash_;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_log_append AFTER INSERT ON platform.audit_log REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION platform.audit_log_append();

CREATE OR REPLACE FUNCTION platform.audit_chain_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path = platform, pg_catalog AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR pg_trigger_depth() < 2 OR NEW.last_seq <= OLD.last_seq THEN
        RAISE EXCEPTION 'platform.audit_chain moves only by appending to platform.audit_log'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
