-- Bonuses (modules/bonuses, docs/bonuses.md): tenant-configured bonus rules, versioned; every evaluation of a rule
-- against a completed deposit (granted or not, and why); the bonuses granted, each with the rule version and the
-- inputs it was granted under; and the turnover each closing deal added to them. The money is the ledger's: a
-- granted bonus sits on the client's bonus account (bonus:<client>:<currency>) against the brokerage's bonus
-- liability until it is released to the client's wallet, expires or is cancelled.

-- Rules: a name and a currency; what a rule does is its versions' terms. Editing a rule adds a version; a granted
-- bonus keeps the version it was granted under.
CREATE TABLE bonus_rules (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 100),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bonus_rule_versions (
    rule_id    uuid NOT NULL REFERENCES bonus_rules (id),
    version    integer NOT NULL CHECK (version >= 1),
    -- bonuses.Terms as JSON: trigger conditions, award, turnover, minimum hold, validity, limits, active.
    terms      jsonb NOT NULL,
    created_by jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, version)
);

-- Every (rule, deposit) evaluated, once: the key that makes a redelivered deposit.completed grant nothing twice.
-- outcome says granted or not, reason why not, inputs what the rule saw (answerable from this one row).
CREATE TABLE bonus_evaluations (
    rule_id      uuid NOT NULL REFERENCES bonus_rules (id),
    deposit_id   uuid NOT NULL,
    rule_version integer NOT NULL,
    client_id    uuid NOT NULL REFERENCES clients (id),
    outcome      text NOT NULL CHECK (outcome IN ('granted', 'not_granted')),
    reason       text NOT NULL DEFAULT '',
    explanation  jsonb NOT NULL,
    evaluated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, deposit_id),
    FOREIGN KEY (rule_id, rule_version) REFERENCES bonus_rule_versions (rule_id, version)
);
CREATE INDEX bonus_evaluations_client ON bonus_evaluations (client_id, evaluated_at);

-- Bonuses granted. status: open (turnover not met yet), released (moved to the wallet), expired (voided at
-- expires_at), cancelled (by staff, with a reason), forfeited (by a withdrawal).
CREATE TABLE bonuses (
    id               uuid PRIMARY KEY,
    rule_id          uuid NOT NULL REFERENCES bonus_rules (id),
    rule_version     integer NOT NULL,
    deposit_id       uuid NOT NULL,
    client_id        uuid NOT NULL REFERENCES clients (id),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount           bigint NOT NULL CHECK (amount > 0),
    lots_required    numeric(20, 2) NOT NULL CHECK (lots_required >= 0),
    lots_done        numeric(20, 4) NOT NULL DEFAULT 0,
    min_hold_seconds bigint NOT NULL DEFAULT 0 CHECK (min_hold_seconds >= 0),
    status           text NOT NULL CHECK (status IN ('open', 'released', 'expired', 'cancelled', 'forfeited')),
    granted_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    closed_at        timestamptz,
    close_reason     text NOT NULL DEFAULT '',
    grant_tx         uuid NOT NULL,
    close_tx         uuid,
    UNIQUE (rule_id, deposit_id),
    FOREIGN KEY (rule_id, rule_version) REFERENCES bonus_rule_versions (rule_id, version)
);
CREATE INDEX bonuses_client_open ON bonuses (client_id, granted_at) WHERE status = 'open';
CREATE INDEX bonuses_open_expiry ON bonuses (expires_at) WHERE status = 'open';
CREATE INDEX bonuses_client ON bonuses (client_id, granted_at);

-- Turnover: the lots a closing deal counts toward a bonus, one row per (bonus, deal). A deal_changed that cancels
-- or shrinks the deal sets lots to what counts now, and the bonus's lots_done moves by the difference.
-- last_event_at keeps an older change delivered late from undoing a newer one.
CREATE TABLE bonus_turnover (
    bonus_id      uuid NOT NULL REFERENCES bonuses (id),
    server_id     uuid NOT NULL,
    ticket        text NOT NULL,
    lots          numeric(20, 4) NOT NULL CHECK (lots >= 0),
    held_seconds  bigint,
    deal_time     timestamptz NOT NULL,
    last_event_at timestamptz NOT NULL,
    PRIMARY KEY (bonus_id, server_id, ticket)
);
CREATE INDEX bonus_turnover_deal ON bonus_turnover (server_id, ticket);
