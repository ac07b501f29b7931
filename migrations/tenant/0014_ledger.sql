-- The ledger (modules/ledger, docs/ledger.md): the only source of every balance in the brokerage. Double entry:
-- a transaction is two or more postings whose amounts sum to zero per currency; a posting's amount is in the
-- account's currency's minor units, positive for a credit and negative for a debit. Transactions and postings are
-- append-only (a correction is a new transaction naming the one it corrects); balances are kept beside them for
-- reading and for the no-overdraft check, and `brokerdesk ledger verify` recomputes them from the postings.

CREATE TABLE ledger_accounts (
    id           uuid PRIMARY KEY,
    -- The account's name, unique in the tenant: "client:<client id>:USD", "clearing:<gateway id>:USD",
    -- "suspense:USD", "fees:USD", ...; modules address accounts by code.
    code         text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z_]*(:[A-Za-z0-9_-]+)+$'),
    kind         text NOT NULL CHECK (kind ~ '^[a-z][a-z_]*$'),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3,4}$'),
    exponent     smallint NOT NULL CHECK (exponent BETWEEN 0 AND 8),
    -- The client an account belongs to (client wallets), NULL for the brokerage's own accounts.
    owner_id     uuid,
    -- A no-overdraft account's available balance (posted credits minus debits, minus its pending debits) may never
    -- go below zero: every client wallet is one.
    no_overdraft boolean NOT NULL,
    -- Balance rows of the account. An account every deposit touches (a gateway's clearing account) spreads its
    -- balance over several rows, each transaction updating one chosen by its id, so deposits do not queue on one
    -- row lock; its balance is their sum. A no-overdraft account has exactly one, which its check locks.
    shards       smallint NOT NULL CHECK (shards BETWEEN 1 AND 64 AND (NOT no_overdraft OR shards = 1)),
    label        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_id) WHERE owner_id IS NOT NULL;

CREATE TABLE ledger_balances (
    account_id      uuid NOT NULL REFERENCES ledger_accounts (id),
    shard           smallint NOT NULL CHECK (shard >= 0),
    -- posted credits minus posted debits
    posted          bigint NOT NULL DEFAULT 0,
    -- open holds: debits and credits of pending transactions not yet posted or voided (as positive amounts)
    pending_debits  bigint NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
    pending_credits bigint NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
    PRIMARY KEY (account_id, shard)
);

CREATE TABLE ledger_transactions (
    id           uuid PRIMARY KEY,
    -- Idempotency: the same key with the same content is the same transaction (the first result is returned);
    -- the same key with different content is refused.
    idem_key     text NOT NULL UNIQUE CHECK (idem_key <> '' AND length(idem_key) <= 200),
    kind         text NOT NULL CHECK (kind ~ '^[a-z][a-z_]*$'),
    -- posted: the postings count in posted balances; pending: a hold (counts in pending_* until a hold_post or a
    -- hold_void transaction resolves it).
    status       text NOT NULL CHECK (status IN ('posted', 'pending')),
    description  text NOT NULL,
    content_hash bytea NOT NULL CHECK (octet_length(content_hash) = 32),
    corrects     uuid REFERENCES ledger_transactions (id),
    -- For hold_post and hold_void: the hold they resolve. One resolution per hold.
    resolves     uuid UNIQUE REFERENCES ledger_transactions (id),
    -- What the amounts came from (the deposit, the rule version and its inputs): kept with the money.
    metadata     jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_transactions_created_at ON ledger_transactions (created_at);

CREATE TABLE ledger_postings (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id uuid NOT NULL REFERENCES ledger_transactions (id),
    account_id     uuid NOT NULL REFERENCES ledger_accounts (id),
    amount         bigint NOT NULL CHECK (amount <> 0),
    pending        boolean NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- An account's history, newest first, and its recomputation.
CREATE INDEX ledger_postings_account ON ledger_postings (account_id, id);
CREATE INDEX ledger_postings_transaction ON ledger_postings (transaction_id);

-- Transactions and postings never change or disappear. The application's role loses the privileges it can lose:
-- UPDATE stays granted on ledger_transactions only because a foreign key to a row (postings, holds' resolutions)
-- locks it FOR KEY SHARE, which Postgres checks against UPDATE; the trigger refuses every UPDATE there. Triggers
-- also stop a role that got the privileges back, or one that bypasses privileges.
CREATE FUNCTION ledger_refuse() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (a correction is a new transaction)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER ledger_postings_no_change BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_transactions_no_change BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();

REVOKE UPDATE, DELETE, TRUNCATE ON ledger_postings FROM CURRENT_USER;
REVOKE DELETE, TRUNCATE ON ledger_transactions FROM CURRENT_USER;
REVOKE DELETE, TRUNCATE ON ledger_accounts, ledger_balances FROM CURRENT_USER;
