-- A run of a request's task claims the request until claimed_until (modules/tradingdesk, docs/trading/desk.md), so
-- two runs of one request never call the platform at once: Asynq delivers at least once, and a run whose lease
-- expired (its worker cut off from Redis) can overlap the next delivery. NULL: nobody holds it.
ALTER TABLE trading_requests ADD COLUMN claimed_until timestamptz;
