-- How a partner sees the clients they referred (IB portal, its API and CSV): the brokerage's rule, chosen by what
-- its IB agreements allow (modules/partners settings.go, docs/partners.md "Settings"). The default is what every
-- tenant showed before: the email masked.
ALTER TABLE partner_settings ADD COLUMN referred_client_display text NOT NULL DEFAULT 'masked_email'
    CHECK (referred_client_display IN ('masked_email', 'masked_name', 'name', 'email', 'reference'));
