-- Bonus forfeiture on a withdrawal (modules/bonuses/forfeit.go, docs/bonuses.md#withdrawals): a client who confirms
-- a withdrawal that forfeits open bonuses gives up all of each (its rule's term forfeit = full) or the withdrawal's
-- share of it (pro_rata). A partial forfeiture leaves the bonus open with what is left: its amount is reduced, and
-- forfeited keeps what was taken off it, so amount + forfeited is always what was granted (the monthly maximum
-- counts that). A full forfeiture closes the bonus (status forfeited) and leaves amount as it was.
ALTER TABLE bonuses ADD COLUMN forfeited bigint NOT NULL DEFAULT 0 CHECK (forfeited >= 0);

-- One row per (bonus, withdrawal): what the withdrawal took and what the pro rata share was computed from. The key
-- makes a second delivery of the withdrawal's fact forfeit nothing twice.
CREATE TABLE bonus_forfeitures (
    bonus_id             uuid NOT NULL REFERENCES bonuses (id),
    withdrawal_id        uuid NOT NULL,
    client_id            uuid NOT NULL REFERENCES clients (id),
    currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount               bigint NOT NULL CHECK (amount > 0),
    -- full: the bonus closed (status forfeited); otherwise it stays open with open_before - amount.
    full_forfeit         boolean NOT NULL,
    rule                 text NOT NULL CHECK (rule IN ('full', 'pro_rata')),
    open_before          bigint NOT NULL CHECK (open_before >= amount),
    withdrawn            bigint NOT NULL CHECK (withdrawn > 0),
    -- the client's withdrawable balance in the currency before the withdrawal (the pro rata share's base)
    balance              bigint NOT NULL CHECK (balance >= 0),
    lots_required_before numeric(20, 2) NOT NULL,
    lots_required_after  numeric(20, 2) NOT NULL,
    ledger_tx            uuid NOT NULL,
    forfeited_at         timestamptz NOT NULL,
    PRIMARY KEY (bonus_id, withdrawal_id)
);
CREATE INDEX bonus_forfeitures_withdrawal ON bonus_forfeitures (withdrawal_id);
