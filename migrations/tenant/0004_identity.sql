-- Identity (modules/identity): credentials of staff and traders, refresh tokens and password resets. Only hashes of
-- secrets that are presented back to us (refresh tokens, reset tokens, recovery codes) are stored; the password hash
-- is argon2id in PHC form. The lockout columns hold auth.LoginState, the same for both kinds of user.

-- A staff user's credentials; the row exists once a password has been set (invitation accepted, reset, demo seed).
CREATE TABLE staff_credentials (
    staff_user_id   uuid PRIMARY KEY REFERENCES staff_users (id),
    password_hash   text NOT NULL,
    -- TOTP: the secret is set at enrolment and counts only once confirmed (totp_enabled_at).
    totp_secret     text,
    totp_enabled_at timestamptz,
    totp_last_step  bigint NOT NULL DEFAULT 0,
    -- auth.LoginState
    failures        integer NOT NULL DEFAULT 0,
    window_start    timestamptz,
    lockouts        integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_failure    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (totp_enabled_at IS NULL OR totp_secret IS NOT NULL)
);

-- Traders' portal logins (registration comes with onboarding). client_id links to the client once there is one.
CREATE TABLE portal_users (
    id              uuid PRIMARY KEY,
    email           text NOT NULL CHECK (email = lower(email)),
    client_id       uuid REFERENCES clients (id),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    password_hash   text NOT NULL,
    totp_secret     text,
    totp_enabled_at timestamptz,
    totp_last_step  bigint NOT NULL DEFAULT 0,
    failures        integer NOT NULL DEFAULT 0,
    window_start    timestamptz,
    lockouts        integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_failure    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (totp_enabled_at IS NULL OR totp_secret IS NOT NULL)
);
CREATE UNIQUE INDEX portal_users_email ON portal_users (email);

-- Recovery codes (SHA-256 of the normalised code); a used code's row is deleted.
CREATE TABLE recovery_codes (
    user_kind  text NOT NULL CHECK (user_kind IN ('staff', 'portal')),
    user_id    uuid NOT NULL,
    code_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_kind, user_id, code_hash)
);

-- Refresh tokens (auth.Rotate's contract, docs/security.md): one row per token, a family per login.
CREATE TABLE refresh_tokens (
    token_hash        bytea PRIMARY KEY,
    family_id         text NOT NULL,
    user_kind         text NOT NULL CHECK (user_kind IN ('staff', 'portal')),
    user_id           uuid NOT NULL,
    audience          text NOT NULL CHECK (audience IN ('backoffice', 'portal')),
    expires_at        timestamptz NOT NULL,
    family_expires_at timestamptz NOT NULL,
    spent_at          timestamptz,
    revoked_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_kind, user_id);

-- Single-use, expiring password reset links.
CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY,
    user_kind  text NOT NULL CHECK (user_kind IN ('staff', 'portal')),
    user_id    uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
