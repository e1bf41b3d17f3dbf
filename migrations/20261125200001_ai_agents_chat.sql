-- AI platform: agents (the seed's table, workspace-scoped and versioned), conversations,
-- messages, the events streamed to WebSocket clients, the usage ledger and budgets.

create table smartflow_ai.agents (
    id uuid primary key default gen_random_uuid(),
    name varchar(255) not null,
    description text,
    configuration jsonb,
    created_at timestamptz default now(),
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    created_by uuid references smartflow_main.users (id) on delete set null,
    version integer not null default 1,
    updated_at timestamptz not null default now()
);
create index agents_workspace_idx on smartflow_ai.agents (workspace_id, created_at desc);

-- Every saved configuration, including the current one, so earlier versions stay readable.
create table smartflow_ai.agent_versions (
    agent_id uuid not null references smartflow_ai.agents (id) on delete cascade,
    version integer not null,
    workspace_id uuid not null,
    name varchar(255) not null,
    description text,
    configuration jsonb not null,
    created_by uuid references smartflow_main.users (id) on delete set null,
    created_at timestamptz not null default now(),
    primary key (agent_id, version)
);

create table smartflow_ai.conversations (
    id uuid primary key default gen_random_uuid(),
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    user_id uuid not null references smartflow_main.users (id) on delete cascade,
    agent_id uuid references smartflow_ai.agents (id) on delete set null,
    title text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index conversations_owner_idx
    on smartflow_ai.conversations (workspace_id, user_id, updated_at desc);

create table smartflow_ai.messages (
    id uuid primary key default gen_random_uuid(),
    conversation_id uuid not null references smartflow_ai.conversations (id) on delete cascade,
    workspace_id uuid not null,
    role text not null check (role in ('user', 'assistant')),
    content text not null default '',
    -- assistant replies: queued → running → completed | failed
    status text not null default 'completed'
        check (status in ('queued', 'running', 'completed', 'failed')),
    job_id bigint,
    agent_id uuid,
    agent_version integer,
    usage jsonb,
    citations jsonb not null default '[]',
    tool_calls jsonb not null default '[]',
    error text,
    -- Sequence number of the job's last event, so late subscribers get a final `done`.
    last_seq integer,
    created_at timestamptz not null default now(),
    completed_at timestamptz
);
create index messages_conversation_idx on smartflow_ai.messages (conversation_id, created_at);
create unique index messages_job_idx on smartflow_ai.messages (job_id) where job_id is not null;

-- Events of a chat job, numbered per job, kept briefly so a reconnecting client resumes
-- without gaps. Unlogged: they are a replay buffer, not a record (the reply is in messages).
create unlogged table smartflow_ai.chat_events (
    job_id bigint not null,
    seq integer not null,
    event jsonb not null,
    created_at timestamptz not null default now(),
    primary key (job_id, seq)
);
create index chat_events_created_idx on smartflow_ai.chat_events (created_at);

-- One row per provider call, priced from the versioned price table.
create table smartflow_ai.usage_ledger (
    id bigint generated always as identity primary key,
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    user_id uuid,
    agent_id uuid,
    message_id uuid,
    operation text not null,
    provider text not null,
    provider_kind text not null,
    model text not null,
    input_tokens bigint not null,
    output_tokens bigint not null,
    cached_input_tokens bigint not null,
    cache_write_input_tokens bigint not null,
    cost_usd_micros bigint not null,
    price_known boolean not null,
    price_version text not null,
    created_at timestamptz not null default now()
);
create index usage_ledger_workspace_idx on smartflow_ai.usage_ledger (workspace_id, created_at);

create table smartflow_ai.budgets (
    workspace_id uuid primary key references smartflow_shared.workspaces (id) on delete cascade,
    monthly_limit_usd_micros bigint not null check (monthly_limit_usd_micros >= 0),
    updated_at timestamptz not null default now()
);

-- A workspace's own provider keys, AES-256-GCM encrypted (context `ai_provider_key:<ws>:<name>`).
create table smartflow_ai.provider_keys (
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    provider text not null,
    encrypted_key text not null,
    key_hint text not null,
    created_by uuid,
    updated_at timestamptz not null default now(),
    primary key (workspace_id, provider)
);
