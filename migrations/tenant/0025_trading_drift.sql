-- Drift between the CRM and its trading platforms (modules/tradingdesk, docs/trading/desk.md#drift-report): what the
-- platform reported at the last read of each account, the mismatches found (drift items), each server's last
-- check, and the desk's settings (automatic healing).

-- The opening balance acknowledgement: balance operations the platform dated before this instant are the
-- account's opening balance, acknowledged when the CRM linked an account it did not open (the demo's funded
-- accounts), and never drift. NULL: the CRM opened the account empty, and every balance operation counts.
-- Accounts recorded before this migration acknowledge what came before their recording.
ALTER TABLE trading_accounts ADD COLUMN opening_balance_at timestamptz;
UPDATE trading_accounts SET opening_balance_at = created_at;

-- The settings the platform reported at the last read (the drift check's), beside balance, equity and state_at.
-- NULL: never read.
ALTER TABLE trading_accounts ADD COLUMN platform_group text, ADD COLUMN platform_leverage integer,
    ADD COLUMN platform_swap_free boolean, ADD COLUMN platform_login_enabled boolean, ADD COLUMN platform_trading_enabled boolean;

-- One mismatch between what the CRM believes of an account and what its platform says. At most one open item per
-- account and kind: a mismatch seen again moves last_seen_at (and the values, if they moved), never adds a row.
CREATE TABLE trading_drift_items (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES trading_accounts (id),
    server_id       uuid NOT NULL REFERENCES trading_servers (id),
    kind            text NOT NULL CHECK (kind IN ('group', 'leverage', 'access', 'swap_free', 'balance')),
    -- Both sides in words as the pages show them ("1:100", "standard-usd", "250.00 USD").
    crm_value       text NOT NULL,
    platform_value  text NOT NULL,
    -- Balance items: the platform's balance operations minus the CRM's, in minor units of the account's currency.
    -- A resolved balance item's difference is acknowledged: later checks count it on the CRM's side.
    difference      bigint CHECK ((kind = 'balance') = (difference IS NOT NULL)),
    -- Whose it is: settings drift is dealing's (the back office), money drift finance's.
    owner           text NOT NULL CHECK (owner IN ('dealing', 'finance')),
    -- open; healed (the CRM's value pushed back and the platform agrees); resolved (by staff, with a note);
    -- gone (the platform agrees again without the desk's healing).
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'healed', 'resolved', 'gone')),
    -- What healing did, in words: empty when it was not tried (money, or healing switched off).
    healing         text NOT NULL DEFAULT '',
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    closed_at       timestamptz,
    resolved_by     text,
    resolution_note text NOT NULL DEFAULT '',
    CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE UNIQUE INDEX trading_drift_items_open ON trading_drift_items (account_id, kind) WHERE status = 'open';
CREATE INDEX trading_drift_items_recent ON trading_drift_items (last_seen_at DESC, id);
CREATE INDEX trading_drift_items_server ON trading_drift_items (server_id, status);

-- Each server's last drift check, for the page's one-line summary; running_until claims the server for a check,
-- so two checks of one server never run at once.
CREATE TABLE trading_drift_checks (
    server_id     uuid PRIMARY KEY REFERENCES trading_servers (id),
    running_until timestamptz,
    started_at    timestamptz,
    finished_at   timestamptz,
    checked       integer NOT NULL DEFAULT 0,
    skipped       integer NOT NULL DEFAULT 0,
    unread        integer NOT NULL DEFAULT 0,
    -- What was found, by kind and outcome: [{"kind": "leverage", "outcome": "healed", "count": 2}].
    outcomes      jsonb NOT NULL DEFAULT '[]',
    error         text NOT NULL DEFAULT ''
);

-- The desk's rules (0024) gain whether settings drift is healed automatically (pushing the CRM's value back).
ALTER TABLE trading_desk_settings ADD COLUMN heal_settings boolean NOT NULL DEFAULT true;

-- What the drift check reads per account: its transfers, its requests pending, its balance deals.
CREATE INDEX trading_transfers_account ON trading_transfers (account_id);
CREATE INDEX trading_requests_account_pending ON trading_requests (account_id) WHERE status = 'pending';
CREATE INDEX trading_deals_balance ON trading_deals (server_id, login, time) WHERE action = 'balance';
