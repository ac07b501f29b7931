-- The transactional outbox: a module that must start background work writes a row here in the SAME transaction as
-- its business change (jobs.Outbox.Add), so the job exists exactly when the change commits. The relay (jobs.Relay)
-- claims pending rows, enqueues each as an Asynq task whose TaskID is the row id, and marks it enqueued; enqueued
-- rows are pruned after a retention period by the outbox-prune job.
CREATE TABLE outbox (
    id              uuid PRIMARY KEY,
    task_type       text NOT NULL CHECK (task_type <> ''),
    idem_key        text NOT NULL CHECK (idem_key <> ''),
    payload         jsonb,
    queue           text NOT NULL CHECK (queue <> ''),
    max_retry       integer CHECK (max_retry >= 0),
    timeout_seconds integer CHECK (timeout_seconds > 0),
    -- When the task may run (Asynq ProcessAt); NULL: at once.
    process_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- When the relay may next try the row: now() at insert, pushed back with backoff after a failed enqueue.
    available_at    timestamptz NOT NULL DEFAULT now(),
    enqueued_at     timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT ''
);

-- One row per piece of work: adding the same (type, key) again while the row is retained is a no-op, and the same
-- key with a different payload is refused.
CREATE UNIQUE INDEX outbox_type_key ON outbox (task_type, idem_key);

-- The relay's claim reads only pending rows; the prune job only enqueued ones.
CREATE INDEX outbox_pending ON outbox (available_at) WHERE enqueued_at IS NULL;
CREATE INDEX outbox_enqueued ON outbox (enqueued_at) WHERE enqueued_at IS NOT NULL;

-- Wake the relays when rows commit. NOTIFY is delivered only at commit (never for a rollback), and Postgres folds
-- identical notifications of one transaction into one, so a statement trigger costs one message per transaction
-- that touched the outbox. The payload is the schema, which the relay maps to its tenant.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('brokerdesk_outbox', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
