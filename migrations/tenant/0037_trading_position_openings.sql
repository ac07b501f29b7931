-- When a position opened, for the commission and bonus engines' minimum hold (modules/tradingdesk positions.go,
-- PositionsOpened): a position's opening deals by account, so a batch of closing deals finds each opening in a short
-- read instead of paging back through the account's deals. Only opening deals are in it.
CREATE INDEX trading_deals_position ON trading_deals (server_id, login, position_id, time)
    WHERE entry IN ('in', 'inout') AND position_id IS NOT NULL;
