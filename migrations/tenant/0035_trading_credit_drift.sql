-- Credit drift (modules/tradingdesk drift.go, docs/trading/desk.md "Drift report"): an account's credit deals on its
-- platform against the credit operations the CRM made for bonuses. A money kind like balance: it carries the
-- difference, finance owns it, and a resolved item's difference is acknowledged by later checks.
ALTER TABLE trading_drift_items DROP CONSTRAINT trading_drift_items_kind_check;
ALTER TABLE trading_drift_items ADD CONSTRAINT trading_drift_items_kind_check
    CHECK (kind IN ('group', 'leverage', 'access', 'swap_free', 'balance', 'credit'));
ALTER TABLE trading_drift_items DROP CONSTRAINT trading_drift_items_check;
ALTER TABLE trading_drift_items ADD CONSTRAINT trading_drift_items_difference_check
    CHECK ((kind IN ('balance', 'credit')) = (difference IS NOT NULL));

-- The check sums an account's credit deals as it sums its balance deals (trading_deals_balance): from a partial
-- index of the few credit deals, not the account's every deal.
CREATE INDEX trading_deals_credit ON trading_deals (server_id, login, time) WHERE action = 'credit';
