-- A manual deposit's evidence (modules/payments): the bank statement or advice finance uploads with it, kept in the
-- blob store under evidence_key (tenant migration 0015), so the second approver can read it before approving. The
-- name it was uploaded under (shown, and the download's name), its content type as read from its bytes (PDF, PNG or
-- JPEG) and its size: the deposit's page shows them without asking the store. Empty and 0 without evidence.
ALTER TABLE deposits
    ADD COLUMN evidence_name text NOT NULL DEFAULT '',
    ADD COLUMN evidence_type text NOT NULL DEFAULT '',
    ADD COLUMN evidence_size bigint NOT NULL DEFAULT 0 CHECK (evidence_size >= 0);
