-- The platform schema: which brokerages exist, where their data lives, which hosts reach them, and how their
-- provisioning went. Tenant roles get no access to anything here.
CREATE SCHEMA IF NOT EXISTS platform;
REVOKE ALL ON SCHEMA platform FROM PUBLIC;

CREATE TABLE platform.tenants (
    id            uuid PRIMARY KEY,
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 120),
    status        text NOT NULL CHECK (status IN ('requested', 'provisioning', 'active', 'failed', 'suspended', 'deleted')),
    status_reason text NOT NULL DEFAULT '',
    schema_name   text NOT NULL UNIQUE,
    role_name     text NOT NULL UNIQUE,
    cluster       text NOT NULL,
    admin_email   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_cluster_live ON platform.tenants (cluster) WHERE status <> 'deleted';

-- Custom domains a brokerage brings (portal.broker.com). Subdomains of the base domain need no row.
CREATE TABLE platform.tenant_domains (
    domain      text PRIMARY KEY CHECK (domain = lower(domain)),
    tenant_id   uuid NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    verified_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_domains_tenant ON platform.tenant_domains (tenant_id);

-- One row per provisioning step a tenant has completed; a resumed run skips nothing (steps are idempotent) but
-- the rows tell an operator where a failed run stopped.
CREATE TABLE platform.provisioning_steps (
    tenant_id   uuid NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    step        text NOT NULL,
    attempts    integer NOT NULL DEFAULT 1,
    last_error  text NOT NULL DEFAULT '',
    done_at     timestamptz,
    PRIMARY KEY (tenant_id, step)
);

-- Every status change, with its reason and who made it.
CREATE TABLE platform.tenant_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    from_status text NOT NULL,
    to_status  text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    actor      text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_events_tenant ON platform.tenant_events (tenant_id, id);
