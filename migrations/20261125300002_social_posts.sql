-- Posts (the seed's table and columns, with timestamptz), their targets (the publishing
-- ledger) and one row per attempt.
create table smartflow_social.posts (
    id              uuid primary key default gen_random_uuid(),
    content         text not null,
    platforms       text[] not null,
    scheduled_at    timestamptz,
    published_at    timestamptz,
    created_at      timestamptz not null default now(),
    workspace_id    uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    created_by      uuid references smartflow_main.users (id) on delete set null,
    timezone        text not null default 'UTC',
    variants        jsonb not null default '{}'::jsonb,
    media           jsonb not null default '[]'::jsonb,
    first_comment   text,
    status          text not null default 'draft'
                    check (status in ('draft', 'scheduled', 'publishing', 'published',
                                      'partially_published', 'failed', 'cancelled')),
    duplicated_from uuid references smartflow_social.posts (id) on delete set null,
    updated_at      timestamptz not null default now()
);
-- The calendar reads a workspace's posts by time; lists by creation.
create index posts_calendar_idx on smartflow_social.posts (workspace_id, scheduled_at);
create index posts_created_idx on smartflow_social.posts (workspace_id, created_at desc);

create table smartflow_social.post_targets (
    id               uuid primary key default gen_random_uuid(),
    post_id          uuid not null references smartflow_social.posts (id) on delete cascade,
    workspace_id     uuid not null,
    account_id       uuid not null references smartflow_social.accounts (id) on delete cascade,
    platform         text not null,
    state            text not null default 'scheduled'
                     check (state in ('draft', 'scheduled', 'claimed', 'sent', 'confirmed',
                                      'unconfirmed', 'failed', 'cancelled')),
    due_at           timestamptz,
    next_attempt_at  timestamptz,
    claim_token      uuid,
    claimed_at       timestamptz,
    job_id           bigint,
    sent_at          timestamptz,
    confirmed_at     timestamptz,
    failed_at        timestamptz,
    remote_id        text,
    remote_url       text,
    attempts         integer not null default 0,
    last_error_class text,
    last_hint        text,
    comment_state    text check (comment_state in ('posted', 'failed')),
    comment_remote_id text,
    comment_hint     text,
    alarm_count      integer not null default 0,
    last_alarm_at    timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
create index post_targets_post_idx on smartflow_social.post_targets (post_id);
-- The sweeper: due and waiting, or in flight.
create index post_targets_waiting_idx on smartflow_social.post_targets (due_at)
    where state in ('scheduled', 'claimed', 'sent', 'unconfirmed');
-- Analytics and metric collection read an account's published targets by time.
create index post_targets_published_idx on smartflow_social.post_targets (account_id, confirmed_at)
    where state = 'confirmed';
create index post_targets_workspace_idx on smartflow_social.post_targets (workspace_id, confirmed_at)
    where state = 'confirmed';

create table smartflow_social.publish_attempts (
    id             bigint generated always as identity primary key,
    target_id      uuid not null references smartflow_social.post_targets (id) on delete cascade,
    workspace_id   uuid not null,
    attempt        integer not null,
    kind           text not null default 'publish' check (kind in ('publish', 'reconcile')),
    request_id     uuid not null,
    started_at     timestamptz not null default now(),
    finished_at    timestamptz,
    outcome        text not null default 'in_flight'
                   check (outcome in ('in_flight', 'confirmed', 'reconciled', 'not_found', 'error', 'unknown')),
    error_class    text,
    remote_code    text,
    http_status    integer,
    response       text,                     -- the platform's answer, secrets removed
    hint           text,
    message        text,
    retry_after_ms bigint
);
create index publish_attempts_target_idx on smartflow_social.publish_attempts (target_id, id);
