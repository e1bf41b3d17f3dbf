-- Identity and tenancy. `smartflow_main.users` is the seed's table, extended.
create table smartflow_main.users (
    id             uuid primary key default gen_random_uuid(),
    email          varchar(255) unique not null,          -- normalised (trimmed, lower-case)
    name           text not null default '',
    password_hash  text not null,
    is_staff       boolean not null default false,
    disabled_at    timestamptz,
    last_login_at  timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);

create table smartflow_shared.workspaces (
    id          uuid primary key default gen_random_uuid(),
    name        text not null,
    timezone    text not null default 'UTC',
    created_by  uuid references smartflow_main.users (id) on delete set null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

create table smartflow_shared.memberships (
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    user_id      uuid not null references smartflow_main.users (id) on delete cascade,
    role         text not null check (role in ('admin', 'user', 'viewer')),
    created_at   timestamptz not null default now(),
    primary key (workspace_id, user_id)
);
create index memberships_user_idx on smartflow_shared.memberships (user_id);

create table smartflow_shared.invitations (
    id           uuid primary key default gen_random_uuid(),
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    email        varchar(255) not null,
    role         text not null check (role in ('admin', 'user', 'viewer')),
    token_hash   text not null unique,
    invited_by   uuid references smartflow_main.users (id) on delete set null,
    expires_at   timestamptz not null,
    accepted_at  timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz not null default now()
);
create index invitations_workspace_idx on smartflow_shared.invitations (workspace_id, created_at desc);

-- Sessions are the source of truth; Redis caches them as `session:<id>`.
create table smartflow_shared.sessions (
    id            uuid primary key default gen_random_uuid(),
    user_id       uuid not null references smartflow_main.users (id) on delete cascade,
    workspace_id  uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    secret_hash   text not null,
    ip            text,
    user_agent    text,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null,
    revoked_at    timestamptz,
    revoked_reason text
);
create index sessions_user_idx on smartflow_shared.sessions (user_id) where revoked_at is null;

-- Rotating refresh tokens: each is used once; a reused one revokes its session (the family).
create table smartflow_shared.refresh_tokens (
    id          uuid primary key default gen_random_uuid(),
    session_id  uuid not null references smartflow_shared.sessions (id) on delete cascade,
    token_hash  text not null unique,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz
);
create index refresh_tokens_session_idx on smartflow_shared.refresh_tokens (session_id);

create table smartflow_shared.api_keys (
    id            uuid primary key default gen_random_uuid(),
    workspace_id  uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    name          text not null,
    prefix        text not null unique,
    key_hash      text not null,
    role          text not null check (role in ('admin', 'user', 'viewer')),
    created_by    uuid references smartflow_main.users (id) on delete set null,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
create index api_keys_workspace_idx on smartflow_shared.api_keys (workspace_id, created_at desc);

create table smartflow_shared.password_resets (
    id          uuid primary key default gen_random_uuid(),
    user_id     uuid not null references smartflow_main.users (id) on delete cascade,
    token_hash  text not null unique,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz
);

-- Who did what, for every mutating action.
create table smartflow_shared.audit_log (
    id               bigint generated always as identity primary key,
    workspace_id     uuid,
    actor_user_id    uuid,
    actor_api_key_id uuid,
    actor_label      text not null,
    action           text not null,
    target_type      text not null,
    target_id        text not null,
    request_id       text,
    ip               text,
    details          jsonb not null default '{}'::jsonb,
    created_at       timestamptz not null default now()
);
create index audit_log_workspace_idx on smartflow_shared.audit_log (workspace_id, id desc);
create index audit_log_action_idx on smartflow_shared.audit_log (workspace_id, action, id desc);

-- The event spine: written in the same transaction as the change, fanned out by a job.
create table smartflow_shared.events (
    id              bigint generated always as identity primary key,
    event_type      text not null,
    workspace_id    uuid,
    actor_user_id   uuid,
    actor_api_key_id uuid,
    subject_type    text not null,
    subject_id      text not null,
    payload         jsonb not null default '{}'::jsonb,
    request_id      text,
    created_at      timestamptz not null default now(),
    dispatched_at   timestamptz
);
create index events_workspace_idx on smartflow_shared.events (workspace_id, id desc);
create index events_created_idx on smartflow_shared.events (created_at);
