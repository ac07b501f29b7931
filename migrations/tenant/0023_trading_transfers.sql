-- Transfers between a client's wallet and their trading account (modules/tradingdesk, docs/trading/desk.md). A
-- table of their own rather than a kind of trading_requests: a transfer carries money and ledger transactions, and
-- names no account type, group or leverage.
CREATE TABLE trading_transfers (
    id            uuid PRIMARY KEY,
    client_id     uuid NOT NULL REFERENCES clients (id),
    account_id    uuid NOT NULL REFERENCES trading_accounts (id),
    direction     text NOT NULL CHECK (direction IN ('to_account', 'to_wallet')),
    -- Minor units of currency, the account's and the wallet's (no FX).
    amount        bigint NOT NULL CHECK (amount > 0),
    currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    -- The task's retries ran out while the platform's answer was unknown: the transfer stays pending (its hold is
    -- never voided blindly) until finance asks for another run, which the platform answers by the operation id.
    outcome_unknown boolean NOT NULL DEFAULT false,
    -- The ledger's hold (to_account) and the transaction that moved the money (the hold's post, or the posting of a
    -- transfer to the wallet).
    hold_tx       uuid,
    ledger_tx     uuid,
    -- The platform's ticket for the balance operation, and how many calls were sent for it: a run that sent none
    -- may fail the transfer outright; after one the outcome must be asked of the platform.
    ticket        text NOT NULL DEFAULT '',
    calls         integer NOT NULL DEFAULT 0,
    failure       text NOT NULL DEFAULT '',
    claimed_until timestamptz,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX trading_transfers_client ON trading_transfers (client_id, created_at);
CREATE INDEX trading_transfers_open ON trading_transfers (status, created_at) WHERE status <> 'done';
