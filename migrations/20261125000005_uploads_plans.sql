-- Uploaded files (media for posts, documents for knowledge bases); bytes live in object storage.
create table smartflow_shared.uploads (
    id            uuid primary key default gen_random_uuid(),
    workspace_id  uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    created_by    uuid,
    filename      text not null,
    content_type  text not null,
    size_bytes    bigint not null,
    sha256        text not null,
    storage_key   text not null unique,
    width         integer,
    height        integer,
    created_at    timestamptz not null default now()
);
create index uploads_workspace_idx on smartflow_shared.uploads (workspace_id, created_at desc);

-- A workspace's plan and its billing state (kept in sync with Stripe by the main site).
create table smartflow_shared.subscriptions (
    workspace_id           uuid primary key references smartflow_shared.workspaces (id) on delete cascade,
    plan_id                text not null,
    status                 text not null,   -- Stripe's: trialing, active, past_due, canceled, unpaid, incomplete…
    stripe_customer_id     text,
    stripe_subscription_id text unique,
    current_period_end     timestamptz,
    cancel_at_period_end   boolean not null default false,
    updated_at             timestamptz not null default now()
);
create unique index subscriptions_customer_idx on smartflow_shared.subscriptions (stripe_customer_id) where stripe_customer_id is not null;
