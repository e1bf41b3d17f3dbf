-- Durable job queue: one table. `scheduled` holds future work (retries, delays); the stager
-- moves due rows to `available`, so the claim index only ever holds runnable jobs.
create table smartflow_shared.jobs (
    id              bigint generated always as identity primary key,
    queue           text        not null default 'default',
    kind            text        not null,
    args            jsonb       not null default '{}'::jsonb,
    state           text        not null default 'available'
                    check (state in ('scheduled', 'available', 'running', 'completed', 'cancelled', 'dead')),
    priority        smallint    not null default 2 check (priority between 0 and 4),
    attempt         integer     not null default 0,
    max_attempts    integer     not null default 20 check (max_attempts >= 1),
    run_at          timestamptz not null default now(),
    unique_key      text,
    workspace_id    uuid,
    locked_by       text,
    heartbeat_at    timestamptz,
    last_error      text,
    errors          jsonb       not null default '[]'::jsonb,
    created_at      timestamptz not null default now(),
    started_at      timestamptz,
    finished_at     timestamptz
);

-- Claim: runnable jobs of a queue in priority, then due-time order.
create index jobs_claim_idx on smartflow_shared.jobs (queue, priority, run_at, id)
    where state = 'available';
-- Staging and the next wake-up: the earliest scheduled job.
create index jobs_scheduled_idx on smartflow_shared.jobs (run_at) where state = 'scheduled';
-- Rescue of jobs whose worker stopped heartbeating.
create index jobs_running_idx on smartflow_shared.jobs (heartbeat_at) where state = 'running';
-- An active job with the same key is not enqueued twice.
create unique index jobs_unique_active_idx on smartflow_shared.jobs (unique_key)
    where unique_key is not null and state in ('scheduled', 'available', 'running');
-- Operations: failed work is what operators look for (other states list by primary key).
create index jobs_failed_idx on smartflow_shared.jobs (id) where state in ('dead', 'cancelled');
create index jobs_finished_idx on smartflow_shared.jobs (finished_at)
    where state in ('completed', 'cancelled', 'dead');

-- The table churns: vacuum it often so dead tuples do not slow the claim.
alter table smartflow_shared.jobs set (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_limit = 2000,
    fillfactor = 80
);

-- Runners announce themselves so operators and health can see who is alive.
create table smartflow_shared.job_workers (
    id            text        primary key,
    hostname      text        not null,
    queues        jsonb       not null,
    started_at    timestamptz not null default now(),
    heartbeat_at  timestamptz not null default now()
);

-- Cron: one row per configured entry; an instance claims a slot by advancing next_at.
create table smartflow_shared.cron_schedules (
    name        text        primary key,
    schedule    text        not null,
    timezone    text        not null,
    job_kind    text        not null,
    args        jsonb       not null default '{}'::jsonb,
    enabled     boolean     not null default true,
    next_at     timestamptz not null,
    last_slot   timestamptz,
    last_job_id bigint,
    updated_at  timestamptz not null default now()
);
