-- Partners' payouts and recalculations (modules/partners, docs/partners.md "Payouts" and "Recalculation").

-- A payout moves a partner's earnings from its ledger wallet (partner:<id>:<currency>) to its client's wallet
-- (client:<id>:<currency>) in one ledger transaction (partner_payout:<id>). request_key is the request's
-- Idempotency-Key (the API) or the form's key (the portal page): the same key answers the first payout.
-- destination says what the partner asked for: the wallet, or the wallet on the way to a withdrawal (the portal
-- then opens the withdrawal page; the withdrawal is the withdrawals module's, made there).
CREATE TABLE partner_payouts (
    id           uuid PRIMARY KEY,
    partner_id   uuid NOT NULL REFERENCES partners (id),
    client_id    uuid NOT NULL REFERENCES clients (id),
    amount       bigint NOT NULL CHECK (amount > 0),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    destination  text NOT NULL CHECK (destination IN ('wallet', 'withdrawal')),
    request_key  text NOT NULL CHECK (request_key <> '' AND length(request_key) <= 255),
    ledger_tx    uuid NOT NULL,
    -- Who asked: an audit.Actor as JSON.
    requested_by jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner_id, request_key)
);
CREATE INDEX partner_payouts_partner ON partner_payouts (partner_id, created_at DESC);
REVOKE UPDATE, DELETE, TRUNCATE ON partner_payouts FROM CURRENT_USER;

-- A recalculation written: a partner's period recomputed with today's tree and plans, its differences posted as
-- rows of a new generation (partner_commissions.explanation names the run). Previews write nothing.
CREATE TABLE partner_recalcs (
    id          uuid PRIMARY KEY,
    partner_id  uuid NOT NULL REFERENCES partners (id),
    period_from date NOT NULL,
    period_to   date NOT NULL CHECK (period_to >= period_from),
    reason      text NOT NULL CHECK (reason <> ''),
    actor       jsonb NOT NULL DEFAULT '{}',
    deals       integer NOT NULL,
    rows_written integer NOT NULL,
    -- The net difference written, per currency, in minor units: {"USD": 1250}.
    difference  jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX partner_recalcs_partner ON partner_recalcs (partner_id, created_at DESC);
