-- Data protection (modules/privacy, docs/privacy.md): a client's personal data can be exported, and erased once
-- anti-money-laundering retention allows it. Erasure keeps the client's row (so ledger, trading and referral records
-- that point at it stay consistent) but overwrites every personal field; erased_at says when.
ALTER TABLE clients ADD COLUMN erased_at timestamptz;

-- Every export and erasure request, with its outcome: the answer given (done or refused, and the legal basis of a
-- refusal) is itself a record the brokerage must be able to show a regulator or the data subject.
CREATE TABLE privacy_requests (
    id          uuid PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES clients (id),
    kind        text NOT NULL CHECK (kind IN ('export', 'erasure')),
    outcome     text NOT NULL CHECK (outcome IN ('done', 'refused')),
    -- For a refusal: why, in words a data subject can be given, and until when retention applies (if it ends).
    basis       text NOT NULL DEFAULT '',
    retain_until date,
    actor_kind  text NOT NULL,
    actor_id    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX privacy_requests_client ON privacy_requests (client_id, created_at);
