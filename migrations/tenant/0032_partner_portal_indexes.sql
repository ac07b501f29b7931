-- The IB portal's earnings page for a large partner (modules/partners portal.go, docs/partners.md "IB portal",
-- docs/benchmarks.md): both indexes carry what the page sums, so its reads are index-only scans of the partner's
-- part of the table (the table is append-only, so its visibility map stays set once vacuumed).

-- A page of referred clients: each shown client's level-1 rows (lots, deals, earnings) without the heap.
CREATE INDEX partner_commissions_partner_client ON partner_commissions (partner_id, client_id)
    INCLUDE (level, kind, source, currency, amount, lots) WHERE partner_id IS NOT NULL;

-- The partner's earned totals by currency and the chart's days: a range of (partner, currency, deal_time).
CREATE INDEX partner_commissions_partner_currency ON partner_commissions (partner_id, currency, deal_time)
    INCLUDE (kind, amount) WHERE partner_id IS NOT NULL;

-- What the batch poster has posted so far, per partner and currency: a partner's earned total (commissions.go
-- Earned, the back office's and the portal's figure) is these sums plus its rows not yet posted, read in one
-- snapshot, instead of every row it ever had. The sums move in the transaction that marks rows posted (a row is in
-- the sums or among the unposted, never both, never neither), by a trigger, so whatever code marks rows posted
-- keeps them true. The poster posts a partner's rows in batches by commission id, so the row lock here is the
-- poster's alone: no engine transaction waits on it.
CREATE TABLE partner_posted_sums (
    partner_id uuid NOT NULL REFERENCES partners (id),
    currency   text NOT NULL,
    amount     bigint NOT NULL,
    PRIMARY KEY (partner_id, currency)
);
INSERT INTO partner_posted_sums (partner_id, currency, amount)
    SELECT c.partner_id, c.currency, sum(c.amount) FROM partner_commission_postings p JOIN partner_commissions c ON c.id = p.commission_id
    WHERE p.batch_id IS NOT NULL AND c.partner_id IS NOT NULL GROUP BY c.partner_id, c.currency;

CREATE FUNCTION partner_posted_sums_add() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO partner_posted_sums (partner_id, currency, amount)
        SELECT c.partner_id, c.currency, sum(c.amount)
        FROM posted n JOIN was o ON o.commission_id = n.commission_id JOIN partner_commissions c ON c.id = n.commission_id
        WHERE o.batch_id IS NULL AND n.batch_id IS NOT NULL AND c.partner_id IS NOT NULL
        GROUP BY c.partner_id, c.currency ORDER BY c.partner_id, c.currency
    ON CONFLICT (partner_id, currency) DO UPDATE SET amount = partner_posted_sums.amount + excluded.amount;
    RETURN NULL;
END $$;
CREATE TRIGGER partner_posted_sums_add AFTER UPDATE ON partner_commission_postings
    REFERENCING OLD TABLE AS was NEW TABLE AS posted FOR EACH STATEMENT EXECUTE FUNCTION partner_posted_sums_add();
