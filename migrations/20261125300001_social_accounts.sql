-- Social booster: linked accounts, OAuth states, pending account choices, queue time slots.
create table smartflow_social.accounts (
    id                 uuid primary key default gen_random_uuid(),
    workspace_id       uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    created_by         uuid references smartflow_main.users (id) on delete set null,
    platform           text not null
                       check (platform in ('x', 'facebook', 'instagram', 'linkedin', 'bluesky', 'mastodon')),
    remote_id          text not null,
    username           text,
    display_name       text,
    profile_url        text,
    instance_url       text,                    -- Mastodon instance, Bluesky PDS
    access_token_enc   text,                    -- AES-256-GCM, bound to social_account:<id>:access
    refresh_token_enc  text,                    -- never replaced by an empty one
    token_expires_at   timestamptz,
    refresh_expires_at timestamptz,
    token_issued_at    timestamptz,
    token_version      integer not null default 1,  -- bumps on every new token: refresh once
    scopes             text[] not null default '{}',
    status             text not null default 'active'
                       check (status in ('active', 'needs_reauth', 'disconnected')),
    last_error         text,
    last_error_code    text,
    last_error_at      timestamptz,
    needs_reauth_since timestamptz,
    last_refreshed_at  timestamptz,
    last_published_at  timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    disconnected_at    timestamptz
);
-- One live link per remote account and workspace; disconnected rows stay for the record.
create unique index accounts_remote_idx on smartflow_social.accounts (workspace_id, platform, remote_id)
    where status <> 'disconnected';
create index accounts_workspace_idx on smartflow_social.accounts (workspace_id, created_at);
create index accounts_expiry_idx on smartflow_social.accounts (token_expires_at)
    where status = 'active' and token_expires_at is not null;

-- The OAuth `state` is kept as a hash with its encrypted PKCE verifier; consumed once.
create table smartflow_social.oauth_states (
    state_hash   text primary key,
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    user_id      uuid not null references smartflow_main.users (id) on delete cascade,
    platform     text not null,
    verifier_enc text not null,
    redirect_uri text not null,
    return_to    text,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    used_at      timestamptz
);
create index oauth_states_expiry_idx on smartflow_social.oauth_states (expires_at);

-- Accounts one login can link (Pages, organizations) while the person chooses.
create table smartflow_social.oauth_pending (
    id           uuid primary key,
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    user_id      uuid not null references smartflow_main.users (id) on delete cascade,
    platform     text not null,
    candidates   jsonb not null,
    secrets_enc  text not null,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    used_at      timestamptz
);
create index oauth_pending_expiry_idx on smartflow_social.oauth_pending (expires_at);

-- Each account's queue: recurring wall-clock times in a timezone (0 = Monday).
create table smartflow_social.time_slots (
    id           uuid primary key default gen_random_uuid(),
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    account_id   uuid not null references smartflow_social.accounts (id) on delete cascade,
    weekday      smallint not null check (weekday between 0 and 6),
    local_time   time not null,
    timezone     text not null,
    created_at   timestamptz not null default now(),
    unique (account_id, weekday, local_time)
);
