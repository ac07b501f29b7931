-- Client onboarding (modules/clients, docs/clients.md): what registration collects, the tier and account manager
-- given at email verification, the referral attribution, the status history, single-use verification links and
-- the manager round-robin's position. Status changes go through clients.TransitionTx only, which writes the
-- history row and the audit entry in the same transaction.

ALTER TABLE clients
    ADD COLUMN phone             text NOT NULL DEFAULT '',
    ADD COLUMN date_of_birth     date,
    ADD COLUMN marketing_consent boolean NOT NULL DEFAULT false,
    -- Declared trading experience ('' when not declared); tier rules may match it.
    ADD COLUMN experience        text NOT NULL DEFAULT '' CHECK (experience IN ('', 'none', 'some', 'experienced')),
    ADD COLUMN tier              text NOT NULL DEFAULT '',
    ADD COLUMN manager_id        uuid REFERENCES staff_users (id),
    ADD COLUMN email_verified_at timestamptz,
    -- Set when KYC is first approved; the policy gate and reinstatement read it (a suspended client who was never
    -- approved cannot be reinstated straight to kyc_approved).
    ADD COLUMN kyc_approved_at   timestamptz,
    ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now();

-- The back office's list: newest first, paged by (created_at, id); filters on manager and tier.
CREATE INDEX clients_created ON clients (created_at DESC, id DESC);
CREATE INDEX clients_manager ON clients (manager_id, created_at DESC) WHERE manager_id IS NOT NULL;
CREATE INDEX clients_tier ON clients (tier);
CREATE INDEX clients_country ON clients (country);

-- Where a client came from: the IB/affiliate code as given (from a ?ref= link kept in a cookie, or typed in at
-- registration). The IB module resolves codes to introducing brokers later; the attribution is kept as it was.
CREATE TABLE client_referrals (
    client_id   uuid PRIMARY KEY REFERENCES clients (id),
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    source      text NOT NULL CHECK (source IN ('link', 'typed')),
    -- When the link was followed (source link) or the form was sent (typed).
    captured_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_referrals_code ON client_referrals (code);

-- Every status a client has had, with who moved it and why. The first row (from_status NULL) is the registration.
CREATE TABLE client_status_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES clients (id),
    from_status text,
    to_status   text NOT NULL,
    reason      text NOT NULL CHECK (reason <> '' AND length(reason) <= 500),
    actor_kind  text NOT NULL,
    actor_id    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_status_history_client ON client_status_history (client_id, id);

-- Email verification links: single use, expiring; only the token's SHA-256 is kept. One row per sending task
-- (task_key), so a retried task replaces its own unsent token instead of adding a second live link.
CREATE TABLE client_email_verifications (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    client_id  uuid NOT NULL REFERENCES clients (id),
    task_key   text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    sent_at    timestamptz,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_email_verifications_client ON client_email_verifications (client_id);

-- The round-robin's position among the sales staff: one row, locked by each assignment, so two verifications at
-- once take turns instead of both picking the same manager.
CREATE TABLE client_manager_rotation (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_manager_id uuid
);
INSERT INTO client_manager_rotation (singleton, last_manager_id) VALUES (true, NULL);
