-- Responses of API requests sent with an Idempotency-Key (web.Route.Idempotent), kept 24 hours so a client's
-- retry gets the first response instead of a second effect. A row is claimed (status NULL) when the first request
-- starts and completed with its response; a failed request deletes its claim. tenants.IdempotencyStore is the
-- only reader and writer; expired rows are deleted by its Prune.
CREATE TABLE idempotency_keys (
    principal    text NOT NULL CHECK (principal <> ''),
    key          text NOT NULL CHECK (key <> '' AND length(key) <= 255),
    -- sha256 of method, path and body: the same key with another request is refused.
    fingerprint  bytea NOT NULL,
    -- NULL while the first request runs; then its response.
    status       integer CHECK (status BETWEEN 100 AND 599),
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- A claim whose process died is taken over after this.
    locked_until timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
