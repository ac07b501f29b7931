-- KYC documents (modules/documents, docs/documents.md): one row per file a client uploaded. The file itself is in
-- the blob store under blob_key ("<tenant id>/clients/<client id>/documents/<document id>"); this row is its
-- metadata, review outcome and expiry. A row is written only after the whole file is stored and checked, in the
-- same transaction that opens its review case (documents.Reviews) and writes the audit entry.
--
-- Erasure anonymises a row instead of deleting it (the review case and the audit trail keep pointing at it):
-- file name, hash, expiry and message are cleared and erased_at is set; the blob is deleted after commit.
CREATE TABLE documents (
    id                uuid PRIMARY KEY,
    client_id         uuid NOT NULL REFERENCES clients (id),
    type              text NOT NULL CHECK (type IN ('passport', 'national_id', 'driving_licence', 'proof_of_address',
                                                    'selfie', 'company_registration', 'company_articles',
                                                    'company_ownership')),
    status            text NOT NULL CHECK (status IN ('pending_review', 'approved', 'rejected', 'more_info_requested',
                                                      'expired', 'superseded')),
    file_name         text NOT NULL CHECK (length(file_name) <= 255),
    -- Detected from the file's content, never from its name or the declared type.
    content_type      text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    size              bigint NOT NULL CHECK (size > 0),
    -- SHA-256 of the file; NULL only once erased.
    sha256            bytea CHECK (octet_length(sha256) = 32),
    blob_key          text NOT NULL UNIQUE,
    -- Other clients of this tenant who uploaded a file with the same SHA-256 (kept on both sides).
    duplicate_clients uuid[] NOT NULL DEFAULT '{}',
    expires_on        date,
    reason_code       text NOT NULL DEFAULT '' CHECK (reason_code ~ '^[a-z0-9_]{0,40}$'),
    message           text NOT NULL DEFAULT '' CHECK (length(message) <= 2000),
    uploaded_at       timestamptz NOT NULL DEFAULT now(),
    -- The audit actor who uploaded ("client:<portal user id>", "staff:<id>").
    uploaded_by       text NOT NULL,
    reviewed_at       timestamptz,
    reviewed_by       text,
    -- The expiry job's marks: flagged (client emailed) once per document, expired when the date has passed.
    expiring_flagged_at timestamptz,
    expired_at        timestamptz,
    erased_at         timestamptz,
    CHECK ((erased_at IS NULL) = (sha256 IS NOT NULL))
);
-- A client's documents, newest first (portal page, client page, kyc's requirement check).
CREATE INDEX documents_client ON documents (client_id, uploaded_at DESC);
-- The duplicate check at upload.
CREATE INDEX documents_sha256 ON documents (sha256) WHERE sha256 IS NOT NULL;
-- The daily expiry job: live documents with an expiry date.
CREATE INDEX documents_expiry ON documents (expires_on)
    WHERE expires_on IS NOT NULL AND status IN ('pending_review', 'approved', 'more_info_requested');
