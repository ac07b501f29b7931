-- A brokerage's own schema, owned by its own role. Runs with search_path set to the tenant schema: no table here is
-- schema-qualified.

-- Tenant-wide settings (branding, policies) as typed JSON values under well-known keys.
CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Back-office staff. Credentials, 2FA and sessions are added by the identity migrations.
CREATE TABLE staff_users (
    id         uuid PRIMARY KEY,
    email      text NOT NULL CHECK (email = lower(email)),
    full_name  text NOT NULL,
    roles      text[] NOT NULL CHECK (cardinality(roles) > 0),
    status     text NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX staff_users_email ON staff_users (email);

-- Single-use, expiring invitations to set a password. Only the token's SHA-256 is stored.
CREATE TABLE staff_invitations (
    id            uuid PRIMARY KEY,
    staff_user_id uuid NOT NULL REFERENCES staff_users (id),
    token_hash    bytea NOT NULL UNIQUE,
    expires_at    timestamptz NOT NULL,
    sent_at       timestamptz,
    accepted_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Traders. Onboarding and KYC add to this table; status changes go through the clients module only.
CREATE TABLE clients (
    id         uuid PRIMARY KEY,
    email      text NOT NULL CHECK (email = lower(email)),
    first_name text NOT NULL,
    last_name  text NOT NULL,
    country    text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    status     text NOT NULL CHECK (status IN ('registered', 'email_verified', 'kyc_submitted', 'kyc_more_info',
                                               'kyc_rejected', 'kyc_approved', 'restricted', 'suspended', 'closed')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX clients_email ON clients (email);
CREATE INDEX clients_status ON clients (status);
