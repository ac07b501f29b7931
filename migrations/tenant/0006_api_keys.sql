-- API keys (modules/identity, apikeys.go): credentials a brokerage's admin makes for the brokerage's own
-- integrations. A key is presented as "bdk_<id>_<secret>"; only the SHA-256 of that whole string is kept, so the
-- key is found by id and checked by hash, and a copy of this table cannot be used to call the API. A key holds a
-- fixed set of permissions, never more than its creator held when making it.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (name <> '' AND length(name) <= 100),
    secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
    permissions  text[] NOT NULL CHECK (cardinality(permissions) > 0),
    created_by   uuid NOT NULL REFERENCES staff_users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- NULL: the key does not expire.
    expires_at   timestamptz,
    revoked_at   timestamptz,
    revoked_by   uuid REFERENCES staff_users (id),
    -- Written at most once a minute per key (a busy integration must not write on every request).
    last_used_at timestamptz
);

-- The list, newest first, paged by (created_at, id).
CREATE INDEX api_keys_created ON api_keys (created_at DESC, id DESC);
