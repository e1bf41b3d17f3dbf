-- Outgoing webhooks: endpoints per workspace, and one row per delivery attempt.
create table smartflow_shared.webhook_endpoints (
    id                   uuid primary key default gen_random_uuid(),
    workspace_id         uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    url                  text not null,
    description          text not null default '',
    event_types          text[] not null,             -- '*' matches every event
    secret_encrypted     text not null,
    enabled              boolean not null default true,
    consecutive_failures integer not null default 0,
    disabled_reason      text,
    last_success_at      timestamptz,
    last_failure_at      timestamptz,
    created_by           uuid,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
create index webhook_endpoints_workspace_idx on smartflow_shared.webhook_endpoints (workspace_id) where enabled;

create table smartflow_shared.webhook_deliveries (
    id             bigint generated always as identity primary key,
    endpoint_id    uuid not null references smartflow_shared.webhook_endpoints (id) on delete cascade,
    event_id       bigint not null,
    delivery_id    uuid not null,          -- the same for every attempt of one event to one endpoint
    event_type     text not null,
    attempt        integer not null,
    succeeded      boolean not null,
    status_code    integer,
    response_excerpt text,
    error          text,
    duration_ms    integer not null,
    created_at     timestamptz not null default now()
);
create index webhook_deliveries_endpoint_idx on smartflow_shared.webhook_deliveries (endpoint_id, id desc);
