-- Main site: leads (the seed's table, extended), their history, contact inquiries, and the
-- Stripe events received. Leads and inquiries belong to the platform (staff), not a workspace.

create table smartflow_main.leads (
    id                uuid primary key default gen_random_uuid(),
    name              varchar(255) not null,
    email             varchar(255) not null,
    company           varchar(255),
    source            varchar(100),
    created_at        timestamptz not null default now(),
    -- Trimmed and lower-cased: a repeat submission joins the lead instead of duplicating it.
    email_normalized  varchar(255) not null,
    phone             varchar(50),
    message           text,
    consent           boolean not null default false,
    consent_at        timestamptz,
    utm_source        varchar(255),
    utm_medium        varchar(255),
    utm_campaign      varchar(255),
    utm_term          varchar(255),
    utm_content       varchar(255),
    referrer          text,
    landing_page      text,
    status            text not null default 'new'
                      check (status in ('new', 'contacted', 'qualified', 'won', 'lost', 'spam')),
    owner_id          uuid references smartflow_main.users (id) on delete set null,
    notes             text not null default '',
    submission_count  integer not null default 1,
    last_submitted_at timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create unique index leads_email_normalized_key on smartflow_main.leads (email_normalized);
-- Keyset pagination and the per-day chart read newest first, optionally within one status.
create index leads_created_idx on smartflow_main.leads (created_at desc, id desc);
create index leads_status_created_idx on smartflow_main.leads (status, created_at desc, id desc);

-- Every submission, status change, owner change and note, oldest first.
create table smartflow_main.lead_history (
    id            bigint generated always as identity primary key,
    lead_id       uuid not null references smartflow_main.leads (id) on delete cascade,
    kind          text not null check (kind in ('submitted', 'status_changed', 'owner_changed', 'notes_changed')),
    actor_user_id uuid references smartflow_main.users (id) on delete set null,
    data          jsonb not null default '{}'::jsonb,
    created_at    timestamptz not null default now()
);
create index lead_history_lead_idx on smartflow_main.lead_history (lead_id, id);

create table smartflow_main.inquiries (
    id              uuid primary key default gen_random_uuid(),
    name            varchar(255) not null,
    email           varchar(255) not null,
    company         varchar(255),
    topic           text not null,
    message         text not null,
    status          text not null default 'open' check (status in ('open', 'resolved')),
    resolution_note text not null default '',
    resolved_at     timestamptz,
    resolved_by     uuid references smartflow_main.users (id) on delete set null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index inquiries_created_idx on smartflow_main.inquiries (created_at desc, id desc);
create index inquiries_status_created_idx on smartflow_main.inquiries (status, created_at desc, id desc);

-- Each Stripe event once: the primary key makes a redelivered event a no-op.
create table smartflow_main.stripe_events (
    id           text primary key,
    type         text not null,
    created      timestamptz not null,
    livemode     boolean not null,
    workspace_id uuid references smartflow_shared.workspaces (id) on delete set null,
    outcome      text not null,
    payload      jsonb not null,
    received_at  timestamptz not null default now()
);
create index stripe_events_received_idx on smartflow_main.stripe_events (received_at desc);

-- Stripe may deliver events out of order: a subscription keeps the time of the newest event
-- applied to it, and older ones no longer change its state.
alter table smartflow_shared.subscriptions add column last_event_at timestamptz;
