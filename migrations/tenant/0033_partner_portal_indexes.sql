-- The IB portal's earnings page for a large partner (modules/partners portal.go, docs/partners.md "IB portal",
-- docs/benchmarks.md): both indexes carry what the page sums, so its reads are index-only scans of the partner's
-- part of the table (the table is append-only, so its visibility map stays set once vacuumed).

-- A page of referred clients: each shown client's level-1 rows (lots, deals, earnings) without the heap.
CREATE INDEX partner_commissions_partner_client ON partner_commissions (partner_id, client_id)
    INCLUDE (level, kind, source, currency, amount, lots) WHERE partner_id IS NOT NULL;

-- The partner's earned totals by currency and the chart's days: a range of (partner, currency, deal_time).
CREATE INDEX partner_commissions_partner_currency ON partner_commissions (partner_id, currency, deal_time)
    INCLUDE (kind, amount) WHERE partner_id IS NOT NULL;
