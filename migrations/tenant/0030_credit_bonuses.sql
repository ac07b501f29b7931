-- Bonuses credited on a trading account (docs/bonuses.md "Credit on a trading account", docs/trading/desk.md
-- "Credit operations"): the desk's credit operations on the platform (credit_in, credit_out), each once per key,
-- and the bonus's side: where it is credited, when the platform confirmed it, and its write-off at stop-out.

-- A credit operation the desk carries to the platform for another room (the bonus engine): a credit_in or
-- credit_out of amount on the account, under the platform operation id made of the row's id, at most once per key
-- (the caller's: "bonus:<id>:credit_in"). Like a transfer it is counted before each call, claimed by one run at a
-- time, and left pending with outcome_unknown when the task's retries ran out after a call.
CREATE TABLE trading_credits (
    id              uuid PRIMARY KEY,
    key             text NOT NULL UNIQUE CHECK (key <> '' AND length(key) <= 200),
    client_id       uuid NOT NULL REFERENCES clients (id),
    account_id      uuid NOT NULL REFERENCES trading_accounts (id),
    kind            text NOT NULL CHECK (kind IN ('credit_in', 'credit_out')),
    -- Minor units of the account's currency: what was asked, and what the platform moved (a credit_out takes at
    -- most the credit the account has then; NULL until done).
    amount          bigint NOT NULL CHECK (amount > 0),
    moved           bigint CHECK (moved >= 0),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- The key of the operation this one waits for (a bonus's credit_out waits for its credit_in); '' none.
    after_key       text NOT NULL DEFAULT '',
    comment         text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    outcome_unknown boolean NOT NULL DEFAULT false,
    ticket          text NOT NULL DEFAULT '',
    calls           integer NOT NULL DEFAULT 0,
    failure         text NOT NULL DEFAULT '',
    claimed_until   timestamptz,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX trading_credits_account ON trading_credits (account_id, created_at);
CREATE INDEX trading_credits_open ON trading_credits (status, created_at) WHERE status <> 'done';

-- A bonus written off at stop-out: the account's equity fell to its credit.
ALTER TABLE bonuses DROP CONSTRAINT bonuses_status_check;
ALTER TABLE bonuses ADD CONSTRAINT bonuses_status_check
    CHECK (status IN ('open', 'released', 'expired', 'cancelled', 'forfeited', 'written_off'));

-- Where the bonus went (the rule version's credit_to): the ledger's bonus balance, or credit on a trading account
-- (the desk's account id and login; no foreign key: the desk's table is the desk's). credited_at: the platform
-- confirmed the credit_in; credit_failure: it refused it. equity_above_credit: the stop-out check saw the account's
-- equity above its credit (the client's own money beside the bonus) at least once; stop_out_checked_at: its last
-- look at the account.
ALTER TABLE bonuses ADD COLUMN credit_to text NOT NULL DEFAULT 'bonus_balance' CHECK (credit_to IN ('bonus_balance', 'trading_account'));
ALTER TABLE bonuses ADD COLUMN credit_account uuid;
ALTER TABLE bonuses ADD COLUMN credit_login text NOT NULL DEFAULT '';
ALTER TABLE bonuses ADD COLUMN credited_at timestamptz;
ALTER TABLE bonuses ADD COLUMN credit_failure text NOT NULL DEFAULT '';
ALTER TABLE bonuses ADD COLUMN equity_above_credit boolean NOT NULL DEFAULT false;
ALTER TABLE bonuses ADD COLUMN stop_out_checked_at timestamptz;
ALTER TABLE bonuses ADD CONSTRAINT bonuses_credit_account CHECK ((credit_to = 'trading_account') = (credit_account IS NOT NULL));
CREATE INDEX bonuses_credit_open ON bonuses (credit_account) WHERE status = 'open' AND credit_to = 'trading_account';
