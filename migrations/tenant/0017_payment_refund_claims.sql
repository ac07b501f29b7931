-- A refund through the processor is claimed on its case before the processor is asked (modules/payments,
-- Service.Resolve): while refund_started_at is set, the case cannot be matched or written off, so the money cannot
-- go back to the payer and to a client's wallet both. A failed request clears the claim; a refund whose answer was
-- lost keeps it, and resolving the case as refunded again finds the same refund (the processor's idempotency key).
ALTER TABLE payment_exceptions ADD COLUMN refund_started_at timestamptz;

-- A paid callback asks which earlier callbacks of its deposit brought money held by a case.
CREATE INDEX payment_exceptions_callback ON payment_exceptions (callback_id) WHERE callback_id IS NOT NULL;
