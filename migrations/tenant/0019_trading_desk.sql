-- The trading desk (modules/tradingdesk, docs/trading/desk.md): the brokerage's trading servers and the account
-- types it offers on them. Accounts, requests, transfers, deals and drift join these tables later.

CREATE TABLE trading_servers (
    id              uuid PRIMARY KEY,
    slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'),
    name            text NOT NULL CHECK (name <> '' AND length(name) <= 80),
    platform        text NOT NULL CHECK (platform IN ('mt5', 'tradelocker', 'dxtrade', 'simulator')),
    live            boolean NOT NULL,
    -- How to reach the server, without secrets: address, the MT5 server's time zone (an IANA name), the
    -- TradeLocker group catalogue, the DXtrade codes and categories.
    config          jsonb NOT NULL DEFAULT '{}',
    -- The manager credentials (password, API key) as JSON sealed with BD_DATA_KEYS for this row; NULL: none set.
    -- Never shown again.
    credentials     text,
    enabled         boolean NOT NULL DEFAULT true,
    -- The last connection check (the worker's Ping): ok, down, or unknown before the first.
    status          text NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'ok', 'down')),
    checked_at      timestamptz,
    check_error     text NOT NULL DEFAULT '',
    -- What the connector said of the platform at the last successful check (trading.Capabilities).
    capabilities    jsonb NOT NULL DEFAULT '{}',
    -- Since when the server has had its status (the down page says "down since").
    status_since    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account_types (
    id              uuid PRIMARY KEY,
    slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'),
    name            text NOT NULL CHECK (name <> '' AND length(name) <= 80),
    -- Live or demo is the server's: a type is what its server is.
    server_id       uuid NOT NULL REFERENCES trading_servers (id),
    -- Per account currency, the platform group accounts open in and its swap-free twin:
    -- {"USD": {"group": "standard-usd", "swap_free_group": "standard-usd-swapfree"}}.
    groups          jsonb NOT NULL CHECK (jsonb_typeof(groups) = 'object' AND groups <> '{}'),
    leverages       integer[] NOT NULL CHECK (cardinality(leverages) > 0 AND 1 <= ALL (leverages)),
    -- The smallest first deposit per currency, in minor units: {"USD": 10000}.
    min_first_deposit jsonb NOT NULL DEFAULT '{}',
    -- Who may open it: client tiers and countries (ISO 3166-1 alpha-2); empty: any.
    tiers           text[] NOT NULL DEFAULT '{}',
    countries       text[] NOT NULL DEFAULT '{}',
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_types_server ON account_types (server_id);
