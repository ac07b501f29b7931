-- Partners (modules/partners, docs/partners.md): introducing brokers and affiliates, their referral codes, the tree
-- they form over time, the clients attributed to them over time, versioned commission plans, and the commission
-- rows the engine computes from synced deals, each explaining itself. Earnings reach each partner's wallet in the
-- ledger (partner:<id>:<currency>) in batches; the rows here say what was earned, the ledger what was credited.

-- Commission plans: a plan is a name and a currency; what it pays is its versions' rules. Editing a plan adds a
-- version; rows keep the version they were computed with, so a past month reads the same after an edit.
CREATE TABLE partner_plans (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 100),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE partner_plan_versions (
    plan_id    uuid NOT NULL REFERENCES partner_plans (id),
    version    integer NOT NULL CHECK (version >= 1),
    -- partners.Rules as JSON: lines (symbol, group or default, per-lot amounts by level), groups, percent of the
    -- level below, pay on open/close/both, minimum hold, lot modifiers and excluded account types, CPA.
    rules      jsonb NOT NULL,
    -- Who made this version: a sentence's actor, as audit.Actor's JSON.
    created_by jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, version)
);

CREATE TABLE partners (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    -- The client who applied to be a partner (NULL: an outside affiliate staff made a partner).
    client_id    uuid UNIQUE REFERENCES clients (id),
    -- applied: waits for an ib_manager; active: earns; rejected: the application was refused; suspended: earns
    -- nothing until made active again (its deals are explained as "partner not active").
    status       text NOT NULL CHECK (status IN ('applied', 'active', 'rejected', 'suspended')),
    plan_id      uuid REFERENCES partner_plans (id),
    note         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz
);
CREATE INDEX partners_status ON partners (status, created_at);

-- Referral codes and links: a code names its partner and a campaign; ?ref=CODE links carry it to registration.
-- Codes compare without case.
CREATE TABLE partner_codes (
    code       text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    partner_id uuid NOT NULL REFERENCES partners (id),
    campaign   text NOT NULL DEFAULT '' CHECK (length(campaign) <= 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);
CREATE UNIQUE INDEX partner_codes_upper ON partner_codes (upper(code));
CREATE INDEX partner_codes_partner ON partner_codes (partner_id);

-- The tree over time: a partner's parent from effective_from on (NULL: a top-level partner). The parent at a
-- deal's time is the row with the latest effective_from at or before it, so a move never moves what was earned
-- before its effective date.
CREATE TABLE partner_parents (
    partner_id     uuid NOT NULL REFERENCES partners (id),
    effective_from timestamptz NOT NULL,
    parent_id      uuid REFERENCES partners (id) CHECK (parent_id IS DISTINCT FROM partner_id),
    reason         text NOT NULL DEFAULT '',
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, effective_from)
);
CREATE INDEX partner_parents_parent ON partner_parents (parent_id, effective_from);

-- Clients' attribution over time: the partner a client belongs to from effective_from on (NULL: detached). The
-- first row is written at registration (the referral code); staff re-attribute with a reason.
CREATE TABLE partner_attributions (
    client_id      uuid NOT NULL REFERENCES clients (id),
    effective_from timestamptz NOT NULL,
    partner_id     uuid REFERENCES partners (id),
    -- The code the client registered with, or '' for a staff attribution.
    code           text NOT NULL DEFAULT '',
    source         text NOT NULL CHECK (source IN ('registration', 'staff')),
    reason         text NOT NULL DEFAULT '',
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, effective_from)
);
CREATE INDEX partner_attributions_partner ON partner_attributions (partner_id, effective_from);

-- The tenant's symbol normalisation: suffixes its platforms add to symbols (XAUUSD.m, EURUSDpro), stripped before
-- a symbol is matched to a plan's lines. One row.
CREATE TABLE partner_settings (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    symbol_suffixes text[] NOT NULL DEFAULT '{}'
);
INSERT INTO partner_settings DEFAULT VALUES;

-- Where each deal's commissions stand: its generation (0 for the first computation, one more after each change),
-- and the time of the last event applied, so an older change delivered late does not undo a newer one. Locked per
-- deal while its rows are written.
CREATE TABLE partner_deal_states (
    server_id     uuid NOT NULL,
    ticket        text NOT NULL,
    generation    integer NOT NULL DEFAULT 0,
    last_event_at timestamptz NOT NULL,
    PRIMARY KEY (server_id, ticket)
);

-- Commission rows, append-only: what each deal (or first deposit, for CPA) paid each partner up the tree, or an
-- explanation of why it paid nothing (level 0, no partner, amount 0). A change or cancellation of a deal adds a
-- reversal row (reverses: the row it takes back, with the opposite amount); nothing here is ever edited.
CREATE TABLE partner_commissions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- deal: a trading deal; cpa: a referred client's first deposit.
    source        text NOT NULL CHECK (source IN ('deal', 'cpa')),
    -- The deal (server, ticket) and its generation; for CPA the deposit's id as ticket and the nil server.
    server_id     uuid NOT NULL,
    ticket        text NOT NULL,
    generation    integer NOT NULL DEFAULT 0,
    login         text NOT NULL DEFAULT '',
    account_id    uuid,
    client_id     uuid,
    -- The level up the tree from the client: 1 is the client's own partner; 0 for a row that paid nothing.
    level         smallint NOT NULL CHECK (level >= 0),
    partner_id    uuid REFERENCES partners (id),
    plan_id       uuid REFERENCES partner_plans (id),
    plan_version  integer NOT NULL DEFAULT 0,
    -- paid, nothing (an explanation) or reversal.
    kind          text NOT NULL CHECK (kind IN ('paid', 'nothing', 'reversal')),
    amount        bigint NOT NULL,
    currency      text NOT NULL DEFAULT '' CHECK (currency = '' OR currency ~ '^[A-Z]{3}$'),
    symbol        text NOT NULL DEFAULT '',
    lots          numeric NOT NULL DEFAULT 0,
    deal_time     timestamptz NOT NULL,
    -- Why it paid nothing: a code of partners.Reason ('' for paid rows and reversals).
    reason        text NOT NULL DEFAULT '',
    -- The whole explanation: the matched line or group, the rate, the modifier, the hold, the rounding.
    explanation   jsonb NOT NULL DEFAULT '{}',
    reverses      bigint UNIQUE REFERENCES partner_commissions (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'paid') = (amount > 0) OR kind = 'reversal'),
    CHECK (kind <> 'nothing' OR (amount = 0 AND reason <> '')),
    CHECK ((kind = 'reversal') = (reverses IS NOT NULL))
);
-- One row per (deal, generation, level, plan version): a redelivered or replayed deal never pays twice.
CREATE UNIQUE INDEX partner_commissions_key ON partner_commissions (source, server_id, ticket, generation, level, plan_version)
    WHERE kind <> 'reversal';
CREATE INDEX partner_commissions_partner ON partner_commissions (partner_id, deal_time) WHERE partner_id IS NOT NULL;
CREATE INDEX partner_commissions_deal ON partner_commissions (server_id, ticket);
CREATE INDEX partner_commissions_client ON partner_commissions (client_id, deal_time);

-- CPA is paid once per client, whatever deposit events arrive.
CREATE UNIQUE INDEX partner_commissions_cpa_once ON partner_commissions (client_id, level) WHERE source = 'cpa' AND kind = 'paid';

-- Rows whose amount is not yet in the ledger; the batch poster posts them and records its batch.
CREATE TABLE partner_commission_postings (
    commission_id bigint PRIMARY KEY REFERENCES partner_commissions (id),
    batch_id      uuid,
    posted_at     timestamptz
);
CREATE INDEX partner_commission_postings_due ON partner_commission_postings (commission_id) WHERE batch_id IS NULL;

CREATE TABLE partner_batches (
    id          uuid PRIMARY KEY,
    rows_posted integer NOT NULL,
    -- The ledger transactions that credited the wallets (63 partners each at most).
    ledger_txs  uuid[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Rows never change or disappear (a correction is a reversal row); the tenant's role keeps SELECT and INSERT.
CREATE FUNCTION partner_commissions_refuse() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (a correction is a reversal row)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER partner_commissions_append_only BEFORE UPDATE OR DELETE ON partner_commissions
    FOR EACH ROW EXECUTE FUNCTION partner_commissions_refuse();
-- UPDATE stays granted only because foreign keys to a row (reversals, postings) lock it FOR KEY SHARE, which
-- Postgres checks against UPDATE; the trigger refuses every UPDATE.
REVOKE DELETE, TRUNCATE ON partner_commissions FROM CURRENT_USER;
