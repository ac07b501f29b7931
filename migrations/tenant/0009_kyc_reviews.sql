-- KYC review cases (modules/kyc): one case per submitted document, opened in the upload's transaction. A case is
-- open (in the queue, nobody holds it), claimed (one officer holds it; only the holder ticks and decides) or decided.
-- Under four-eyes a first approval returns the case to the queue with first_approver_id set; a different officer
-- claims it and gives the second approval. The tenant's KYC settings (checklists, required documents, SLA,
-- high-risk countries, four-eyes) live in the settings table under the key 'kyc'.
--
-- document_id has no foreign key: the documents table is the documents module's, and documents are anonymised on
-- erasure, never deleted; uniqueness is what matters here (one case per document).
CREATE TABLE kyc_cases (
    id                uuid PRIMARY KEY,
    document_id       uuid NOT NULL,
    client_id         uuid NOT NULL REFERENCES clients (id),
    document_type     text NOT NULL CHECK (document_type ~ '^[a-z_]{1,40}$'),
    status            text NOT NULL CHECK (status IN ('open', 'claimed', 'decided')),
    opened_at         timestamptz NOT NULL DEFAULT now(),
    holder_id         uuid REFERENCES staff_users (id),
    claimed_at        timestamptz,
    -- The ticked checklist items: {"<item key>": {"by": "<staff id>", "at": "<RFC 3339>"}}.
    checklist         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(checklist) = 'object'),
    first_approver_id uuid REFERENCES staff_users (id),
    first_approved_at timestamptz,
    decision          text CHECK (decision IN ('approved', 'rejected', 'more_info_requested', 'superseded')),
    reason_code       text NOT NULL DEFAULT '',
    message           text NOT NULL DEFAULT '' CHECK (length(message) <= 2000),
    decided_by        uuid REFERENCES staff_users (id),
    decided_at        timestamptz,
    CHECK ((status = 'claimed') = (holder_id IS NOT NULL AND claimed_at IS NOT NULL)),
    CHECK ((status = 'decided') = (decision IS NOT NULL AND decided_at IS NOT NULL))
);
CREATE UNIQUE INDEX kyc_cases_document ON kyc_cases (document_id);
CREATE INDEX kyc_cases_client ON kyc_cases (client_id);
-- The queue's keyset orders: undecided cases oldest first (with one SLA per tenant the overdue ones come first),
-- optionally narrowed to a document type or a holder; decided cases newest decision first.
CREATE INDEX kyc_cases_queue ON kyc_cases (opened_at, id) WHERE status <> 'decided';
CREATE INDEX kyc_cases_queue_type ON kyc_cases (document_type, opened_at, id) WHERE status <> 'decided';
CREATE INDEX kyc_cases_queue_holder ON kyc_cases (holder_id, opened_at, id) WHERE status = 'claimed';
CREATE INDEX kyc_cases_decided ON kyc_cases (decided_at DESC, id DESC) WHERE status = 'decided';
