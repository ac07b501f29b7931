-- Deal sync (modules/tradingdesk, docs/trading/desk.md#deal-sync): every deal of the synced accounts on the
-- brokerage's trading servers, as the platform last listed it, and where each account's sync stands. Trade deals
-- feed IB commissions and bonus turnover (through trading.deal_closed); balance, credit and correction deals are
-- what reconciliation reads.

CREATE TABLE trading_deals (
    server_id     uuid NOT NULL REFERENCES trading_servers (id),
    -- The platform's deal id, unique on its server (MT5 Deal, TradeLocker and DXtrade ids).
    ticket        text NOT NULL CHECK (ticket <> '' AND length(ticket) <= 64),
    login         text NOT NULL CHECK (login <> '' AND length(login) <= 64),
    -- The platform's order and position ids; NULL when it gives none (balance operations).
    order_id      text,
    position_id   text,
    -- trading.DealAction and trading.DealEntry; entry is NULL for a deal that is not a trade. The shape only is
    -- checked, so a new action of the connectors needs no migration.
    action        text NOT NULL CHECK (action ~ '^[a-z_]+$'),
    entry         text CHECK (entry ~ '^[a-z_]+$'),
    symbol        text,
    -- Exact decimals as the platform sent them: lots, price, and money in the account's currency.
    volume        numeric NOT NULL,
    price         numeric NOT NULL,
    profit        numeric NOT NULL,
    commission    numeric NOT NULL,
    swap          numeric NOT NULL,
    time          timestamptz NOT NULL,
    comment       text NOT NULL DEFAULT '',
    -- SHA-256 of the fields above as the platform listed them (tradingdesk.dealHash): a re-read deal whose hash
    -- differs was changed on the platform.
    content_hash  bytea NOT NULL CHECK (octet_length(content_hash) = 32),
    -- When a sync found the deal gone from the platform's listing (deleted by a manager, cancelled by a gateway);
    -- the row keeps the deal as it was last listed. NULL again if the platform lists it again (restored).
    cancelled_at  timestamptz,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    -- When a sync last found it changed, cancelled or restored; NULL: never.
    changed_at    timestamptz,
    -- The deal as it was before a sync last rewrote it, changed or restored (the fields above and whether it was
    -- cancelled): what trading.deal_changed carried as before. NULL: never rewritten.
    previous      jsonb,
    PRIMARY KEY (server_id, ticket)
);
-- An account's history, and the overlap window a sync re-reads.
CREATE INDEX trading_deals_account ON trading_deals (server_id, login, time);

-- A deal never disappears: one the platform no longer lists is marked cancelled.
REVOKE DELETE, TRUNCATE ON trading_deals FROM CURRENT_USER;

-- Where each account's sync stands. A run reads the window [run_from, run_to) page by page; each page's deals
-- commit with page_cursor (the connector's cursor of the next page), so a run cut off by a crash resumes where
-- its last commit left it. The last page's commit sets synced_to to run_to and ends the run.
CREATE TABLE trading_deal_cursors (
    server_id   uuid NOT NULL REFERENCES trading_servers (id),
    login       text NOT NULL CHECK (login <> '' AND length(login) <= 64),
    -- Every deal with time < synced_to has been read by a finished run; NULL before the first run finished.
    synced_to   timestamptz,
    run_from    timestamptz,
    run_to      timestamptz,
    page_cursor text NOT NULL DEFAULT '',
    -- When the last run finished.
    synced_at   timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, login),
    CHECK ((run_from IS NULL) = (run_to IS NULL) AND (run_from IS NULL OR run_from <= run_to)),
    CHECK (run_from IS NOT NULL OR page_cursor = '')
);
