-- The promo code a client typed when starting a deposit (the portal's deposit form, or the API's promo_code): ''
-- for none. deposit.completed carries it, so bonus rules with a promo code (docs/bonuses.md) can grant on it.
ALTER TABLE deposits ADD COLUMN promo_code text NOT NULL DEFAULT '' CHECK (length(promo_code) <= 32);
