-- The trading desk's client accounts and the requests that change them on the platform (modules/tradingdesk,
-- docs/trading/desk.md). Opening an account is the first kind of request; leverage, swap-free and password
-- requests join as kinds of the same table.

-- The last login the desk reserved on each server for an account it opens (requested logins make a retried opening
-- find the account its lost answer created; see trading_requests.login).
ALTER TABLE trading_servers ADD COLUMN last_login bigint NOT NULL DEFAULT 0;

CREATE TABLE trading_accounts (
    id              uuid PRIMARY KEY,
    client_id       uuid NOT NULL REFERENCES clients (id),
    server_id       uuid NOT NULL REFERENCES trading_servers (id),
    account_type_id uuid NOT NULL REFERENCES account_types (id),
    login           text NOT NULL CHECK (login <> '' AND length(login) <= 64),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    leverage        integer NOT NULL CHECK (leverage >= 1),
    group_name      text NOT NULL,
    swap_free       boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'closed')),
    -- The money state the platform last reported, in minor units of currency (NULL: never read).
    balance         bigint,
    equity          bigint,
    state_at        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (server_id, login)
);
CREATE INDEX trading_accounts_client ON trading_accounts (client_id, created_at);

CREATE TABLE trading_requests (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('open_account')),
    client_id       uuid NOT NULL REFERENCES clients (id),
    server_id       uuid NOT NULL REFERENCES trading_servers (id),
    account_type_id uuid NOT NULL REFERENCES account_types (id),
    -- The account the request made or changes (set once it exists).
    account_id      uuid REFERENCES trading_accounts (id),
    currency        text NOT NULL,
    leverage        integer NOT NULL,
    group_name      text NOT NULL,
    swap_free       boolean NOT NULL DEFAULT false,
    -- The login the desk reserved and asks the platform for ('' where the platform chooses, TradeLocker), and how
    -- many calls were sent with it: a retry after a sent call first looks for the account under that login.
    login           text NOT NULL DEFAULT '',
    calls           integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    -- Why it failed, in the platform's words.
    failure         text NOT NULL DEFAULT '',
    -- When the credentials email went out (the passwords are in it and nowhere else).
    credentials_sent_at timestamptz,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX trading_requests_client ON trading_requests (client_id, created_at);
CREATE INDEX trading_requests_open ON trading_requests (status, created_at) WHERE status <> 'done';
