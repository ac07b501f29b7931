-- Money out (modules/withdrawals, docs/withdrawals.md): clients' withdrawals as two-phase transfers. The money is
-- reserved by a ledger hold (hold_tx) when the client asks; the hold is later posted (paid, in full or part) or
-- voided (cancelled, refused, failed, expired). These tables say why; the money itself is in the ledger (0014).

CREATE TABLE withdrawals (
    id              uuid PRIMARY KEY,
    client_id       uuid NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL,
    exponent        smallint NOT NULL,
    -- pending: held, waiting for compliance (when flagged) and finance; approved: finance approved, the payout is
    -- next; paid: the hold is posted; cancelled (by the client), rejected (by staff), failed (the payout failed) and
    -- expired (nobody decided in time): the hold is voided.
    status          text NOT NULL CHECK (status IN ('pending', 'approved', 'paid', 'cancelled', 'rejected', 'failed', 'expired')),
    -- Where the rest goes once card payments are refunded (return to source): 'bank' or a gateway's slug, and the
    -- client's account there (an IBAN, a wallet address), as the client typed it.
    method          text NOT NULL,
    destination     text NOT NULL DEFAULT '',
    hold_tx         uuid NOT NULL REFERENCES ledger_transactions (id),
    resolve_tx      uuid REFERENCES ledger_transactions (id),
    -- A check answered "review": compliance must clear it before finance approves.
    flagged         boolean NOT NULL DEFAULT false,
    -- A check answered "block": finance cannot approve it (it can reject it).
    blocked         boolean NOT NULL DEFAULT false,
    -- Four-eyes: above the tenant's threshold a second, different approver.
    needs_second    boolean NOT NULL DEFAULT false,
    -- The staff's reason of the last decision (a refusal's is shown to the client); a failed payout's reason.
    reason          text NOT NULL DEFAULT '',
    failure         text NOT NULL DEFAULT '',
    -- What the payout paid, in minor units: the hold is posted for this much (the rest released).
    paid_amount     bigint NOT NULL DEFAULT 0 CHECK (paid_amount >= 0 AND paid_amount <= amount),
    expires_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    CHECK ((status IN ('pending', 'approved')) = (finished_at IS NULL))
);
CREATE INDEX withdrawals_client ON withdrawals (client_id, created_at DESC);
CREATE INDEX withdrawals_open ON withdrawals (created_at, id) WHERE status IN ('pending', 'approved');
CREATE INDEX withdrawals_status ON withdrawals (status, created_at DESC);

-- Each check's answer, once per withdrawal and check, recorded with the request.
CREATE TABLE withdrawal_checks (
    withdrawal_id uuid NOT NULL REFERENCES withdrawals (id),
    name          text NOT NULL,
    position      smallint NOT NULL,
    -- pass; review: compliance first; block: cannot be approved.
    outcome       text NOT NULL CHECK (outcome IN ('pass', 'review', 'block')),
    answer        text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}',
    checked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (withdrawal_id, name)
);

-- How the money goes back (return to source): card payments refunded first, each up to what it paid and not yet
-- refunded by an earlier withdrawal, then the rest by the withdrawal's method.
CREATE TABLE withdrawal_legs (
    withdrawal_id uuid NOT NULL REFERENCES withdrawals (id),
    position      smallint NOT NULL,
    -- card_refund: a refund of deposit_id's payment (external_id) through its gateway; bank: a manual bank payout;
    -- gateway: a payout through the generic gateway gateway_slug.
    kind          text NOT NULL CHECK (kind IN ('card_refund', 'bank', 'gateway')),
    amount        bigint NOT NULL CHECK (amount > 0),
    deposit_id    uuid,
    gateway_slug  text NOT NULL DEFAULT '',
    external_id   text NOT NULL DEFAULT '',
    -- planned; sent (a gateway payout asked for, its callback awaited); paid; failed; voided (the withdrawal ended
    -- before this leg paid).
    status        text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'sent', 'paid', 'failed', 'voided')),
    -- The payout's reference: the processor's refund id, or the bank's reference finance typed.
    reference     text NOT NULL DEFAULT '',
    -- Calls made to the processor for this leg, each committed before the call (a run that finds calls > 0 asks
    -- again with the same idempotency key and finds the same refund).
    calls         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (withdrawal_id, position)
);
CREATE INDEX withdrawal_legs_deposit ON withdrawal_legs (deposit_id) WHERE deposit_id IS NOT NULL;

-- Lots each client closed, from the trading desk's trading.deal_closed events (never its tables): what the check
-- "deposit then withdrawal with little trading" reads. One row per deal; a deal the platform cancelled keeps its
-- row, marked, so a close delivered after its cancellation (deliveries are not ordered) does not count it again.
CREATE TABLE withdrawal_trading (
    server_id uuid NOT NULL,
    login     text NOT NULL,
    ticket    text NOT NULL,
    client_id uuid NOT NULL,
    lots      numeric NOT NULL,
    closed_at timestamptz NOT NULL,
    cancelled boolean NOT NULL DEFAULT false,
    PRIMARY KEY (server_id, login, ticket)
);
CREATE INDEX withdrawal_trading_client ON withdrawal_trading (client_id, closed_at);

-- Every staff decision on a withdrawal, with its reason: compliance's (cleared or refused), finance's approvals
-- (two different people above the tenant's threshold), refusals, payouts marked paid or failed.
CREATE TABLE withdrawal_decisions (
    withdrawal_id uuid NOT NULL REFERENCES withdrawals (id),
    position      smallint NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('compliance_cleared', 'compliance_refused', 'approved', 'rejected', 'marked_paid', 'marked_failed')),
    staff_id      uuid NOT NULL,
    reason        text NOT NULL CHECK (reason <> ''),
    decided_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (withdrawal_id, position)
);
-- One approval per person: four-eyes needs two different approvers.
CREATE UNIQUE INDEX withdrawal_decisions_one_approval ON withdrawal_decisions (withdrawal_id, staff_id) WHERE kind = 'approved';
