-- Money in (modules/payments, docs/payments.md): the brokerage's payment gateways, clients' deposits, every
-- authenticated callback a gateway sent, and the exceptions queue where callbacks that could not complete cleanly
-- wait for finance. The money itself is in the ledger (0014); these tables say why it moved.

CREATE TABLE payment_gateways (
    id          uuid PRIMARY KEY,
    -- The gateway's name in its webhook URL: https://<tenant host>/webhooks/payments/<slug>.
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'),
    name        text NOT NULL CHECK (name <> '' AND length(name) <= 80),
    kind        text NOT NULL CHECK (kind IN ('stripe', 'generic', 'manual')),
    -- The adapter's configuration (no secrets), as JSON.
    config      jsonb NOT NULL DEFAULT '{}',
    -- The adapter's secrets (API keys, webhook signing secrets), sealed with BD_DATA_KEYS; never shown again.
    secrets     text NOT NULL DEFAULT '',
    currencies  text[] NOT NULL CHECK (cardinality(currencies) > 0),
    -- Per-deposit bounds in minor units of each currency: {"USD": {"min": 1000, "max": 1000000}}.
    limits      jsonb NOT NULL DEFAULT '{}',
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deposits (
    id             uuid PRIMARY KEY,
    client_id      uuid NOT NULL,
    gateway_id     uuid NOT NULL REFERENCES payment_gateways (id),
    amount         bigint NOT NULL CHECK (amount > 0),
    currency       text NOT NULL,
    exponent       smallint NOT NULL,
    -- pending: started, waiting for the processor; processing: the processor saw a payment not yet confirmed;
    -- awaiting_approval: a manual deposit above the four-eyes threshold; completed: the wallet is credited;
    -- failed: the payment did not happen; cancelled: refused by an approver.
    status         text NOT NULL CHECK (status IN ('pending', 'processing', 'awaiting_approval', 'completed', 'failed', 'cancelled')),
    external_id    text NOT NULL DEFAULT '',
    redirect_url   text NOT NULL DEFAULT '',
    instructions   text NOT NULL DEFAULT '',
    -- Which of the client's completed deposits this is (1 for the first): what "bonus on the 2nd deposit" reads.
    deposit_number integer CHECK (deposit_number > 0),
    ledger_tx      uuid REFERENCES ledger_transactions (id),
    failure        text NOT NULL DEFAULT '',
    -- Manual deposits: the bank's reference, the evidence file, who recorded it and who approved it.
    bank_reference text NOT NULL DEFAULT '',
    evidence_key   text NOT NULL DEFAULT '',
    created_by     text NOT NULL,
    approved_by    uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    CHECK ((status = 'completed') = (ledger_tx IS NOT NULL AND deposit_number IS NOT NULL AND completed_at IS NOT NULL))
);
CREATE INDEX deposits_client ON deposits (client_id, created_at DESC);
CREATE INDEX deposits_created ON deposits (created_at DESC, id DESC);
CREATE INDEX deposits_status ON deposits (status, created_at DESC);
CREATE UNIQUE INDEX deposits_client_number ON deposits (client_id, deposit_number) WHERE deposit_number IS NOT NULL;

-- How many deposits each client has completed: a completion takes the next number here, in the statement that
-- completes the deposit (the row's lock makes one client's completions take turns; other clients never wait).
CREATE TABLE deposit_counts (
    client_id uuid PRIMARY KEY,
    completed integer NOT NULL CHECK (completed > 0)
);

-- Every authenticated callback, once per (gateway, processor event id): a delivery of an id already here is a
-- duplicate and moves nothing.
CREATE TABLE payment_callbacks (
    id          uuid PRIMARY KEY,
    gateway_id  uuid NOT NULL REFERENCES payment_gateways (id),
    event_id    text NOT NULL CHECK (event_id <> ''),
    event_type  text NOT NULL,
    status      text NOT NULL,
    reference   text NOT NULL,
    external_id text NOT NULL,
    amount      bigint,
    currency    text NOT NULL DEFAULT '',
    body_sha256 bytea NOT NULL CHECK (octet_length(body_sha256) = 32),
    body        text NOT NULL,
    -- What the flow did: credited, marked_processing, marked_failed, ignored, already_done, exception.
    outcome     text NOT NULL,
    deposit_id  uuid REFERENCES deposits (id),
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (gateway_id, event_id)
);
CREATE INDEX payment_callbacks_deposit ON payment_callbacks (deposit_id) WHERE deposit_id IS NOT NULL;

CREATE TABLE payment_exceptions (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    status          text NOT NULL CHECK (status IN ('open', 'resolved')),
    gateway_id      uuid REFERENCES payment_gateways (id),
    callback_id     uuid REFERENCES payment_callbacks (id),
    deposit_id      uuid REFERENCES deposits (id),
    client_id       uuid,
    -- Money that arrived and waits in suspense for this case (NULL: the case holds no money).
    amount          bigint,
    currency        text NOT NULL DEFAULT '',
    reason          text NOT NULL,
    -- One case per cause: the same callback or the same verification failure does not open two.
    dedupe_key      text NOT NULL UNIQUE,
    assignee_id     uuid,
    opened_at       timestamptz NOT NULL DEFAULT now(),
    due_at          timestamptz NOT NULL,
    resolved_at     timestamptz,
    resolved_by     uuid,
    resolution      text CHECK (resolution IN ('matched', 'refunded', 'written_off', 'dismissed')),
    resolution_note text NOT NULL DEFAULT '',
    ledger_tx       uuid REFERENCES ledger_transactions (id),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL AND resolution IS NOT NULL))
);
CREATE INDEX payment_exceptions_open ON payment_exceptions (due_at) WHERE status = 'open';
CREATE INDEX payment_exceptions_assignee ON payment_exceptions (assignee_id, due_at) WHERE status = 'open';

-- Round-robin assignment of cases to finance staff: the last one assigned.
CREATE TABLE payment_exception_rotation (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_assignee uuid
);
INSERT INTO payment_exception_rotation (singleton) VALUES (true);
