-- Changes pushed to the platform (modules/tradingdesk, docs/trading/desk.md "Changes"): leverage, swap-free, access
-- and password resets join account openings as kinds of trading_requests; some wait for a back-office approval.

ALTER TABLE trading_requests DROP CONSTRAINT trading_requests_kind_check;
ALTER TABLE trading_requests ADD CONSTRAINT trading_requests_kind_check
    CHECK (kind IN ('open_account', 'set_leverage', 'set_swap_free', 'set_access', 'reset_password'));
-- awaiting_approval: recorded, nothing queued until a back-office user approves (then pending) or rejects it.
ALTER TABLE trading_requests DROP CONSTRAINT trading_requests_status_check;
ALTER TABLE trading_requests ADD CONSTRAINT trading_requests_status_check
    CHECK (status IN ('awaiting_approval', 'pending', 'done', 'failed', 'rejected'));

ALTER TABLE trading_requests
    -- set_access: what the worker applied (it applies what the CRM wants when it runs, see access.go).
    ADD COLUMN login_enabled   boolean,
    ADD COLUMN trading_enabled boolean,
    -- reset_password: which password (the password itself is never stored).
    ADD COLUMN password_kind   text CHECK (password_kind IN ('main', 'investor')),
    -- Why the request exists when it is not the client's own (a client's suspension, a staff user's hand).
    ADD COLUMN reason          text NOT NULL DEFAULT '',
    -- The approval's decision: who, when, and a rejection's reason (the client reads it).
    ADD COLUMN decided_by      text,
    ADD COLUMN decided_at      timestamptz,
    ADD COLUMN rejection       text NOT NULL DEFAULT '';

-- One leverage and one swap-free change in flight per account: a second would race the first on the platform.
CREATE UNIQUE INDEX trading_requests_one_change ON trading_requests (account_id, kind)
    WHERE status IN ('awaiting_approval', 'pending') AND kind IN ('set_leverage', 'set_swap_free');
CREATE INDEX trading_requests_awaiting ON trading_requests (created_at) WHERE status = 'awaiting_approval';

-- What the CRM believes about an account's access (tradingdesk.ExpectedAccess reads these two). status stays the
-- one-word summary: 'disabled' when either is off. access_held: a staff user disabled it by hand, so a client's
-- reinstatement leaves it disabled.
ALTER TABLE trading_accounts
    ADD COLUMN login_enabled   boolean NOT NULL DEFAULT true,
    ADD COLUMN trading_enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN access_held     boolean NOT NULL DEFAULT false;

-- The desk's rules for changes, one row per brokerage (absent: the defaults).
CREATE TABLE trading_desk_settings (
    id                      boolean PRIMARY KEY DEFAULT true CHECK (id),
    -- A leverage change above 1:N waits for approval (NULL: none does).
    leverage_approval_above integer CHECK (leverage_approval_above >= 1),
    -- The largest leverage per client tier ({"standard": 200}); a tier not named: the account type's leverages.
    tier_max_leverage       jsonb NOT NULL DEFAULT '{}',
    swap_free_approval      boolean NOT NULL DEFAULT true,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
