-- Platform operators: the people who run BrokerDesk itself (the console at console.<base domain>). They live in
-- the platform schema, never in a tenant's, and their tokens have audience "console" and no tenant.
CREATE TABLE platform.operators (
    id                  uuid PRIMARY KEY,
    email               text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    password_hash       text NOT NULL,
    roles               text[] NOT NULL DEFAULT '{operator}',
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    -- TOTP: a pending secret waits for its first valid code; only a confirmed secret is asked for at login.
    totp_secret         text,
    totp_pending_secret text,
    totp_last_step      bigint NOT NULL DEFAULT 0,
    -- Lockout state (auth.LoginState), updated in the login transaction.
    failures            integer NOT NULL DEFAULT 0,
    window_start        timestamptz,
    lockouts            integer NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    last_failure        timestamptz,
    last_login_at       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Recovery codes: SHA-256 of each (auth.HashRecoveryCode); a used code's row is deleted.
CREATE TABLE platform.operator_recovery_codes (
    operator_id uuid NOT NULL REFERENCES platform.operators (id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL,
    PRIMARY KEY (operator_id, code_hash)
);

-- One family per login; every refresh spends a token and adds its successor to the family. Reuse of a spent
-- token revokes the family.
CREATE TABLE platform.operator_refresh_families (
    id          text PRIMARY KEY,
    operator_id uuid NOT NULL REFERENCES platform.operators (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_refresh_families_operator ON platform.operator_refresh_families (operator_id);

CREATE TABLE platform.operator_refresh_tokens (
    token_hash bytea PRIMARY KEY,
    family_id  text NOT NULL REFERENCES platform.operator_refresh_families (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_refresh_tokens_family ON platform.operator_refresh_tokens (family_id);
