-- Latest counters per published target (collected or reported) and follower counts over time.
create table smartflow_social.post_metrics (
    target_id    uuid primary key references smartflow_social.post_targets (id) on delete cascade,
    workspace_id uuid not null,
    account_id   uuid not null,
    platform     text not null,
    impressions  bigint,
    likes        bigint,
    reposts      bigint,
    replies      bigint,
    clicks       bigint,
    source       text not null default 'platform' check (source in ('platform', 'external')),
    collected_at timestamptz not null default now()
);
create index post_metrics_account_idx on smartflow_social.post_metrics (account_id);

create table smartflow_social.account_metrics (
    id           bigint generated always as identity primary key,
    account_id   uuid not null references smartflow_social.accounts (id) on delete cascade,
    workspace_id uuid not null,
    collected_at timestamptz not null default now(),
    followers    bigint,
    following    bigint,
    posts        bigint,
    source       text not null default 'platform' check (source in ('platform', 'external'))
);
create index account_metrics_account_idx on smartflow_social.account_metrics (account_id, collected_at);
