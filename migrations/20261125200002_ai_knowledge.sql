-- Knowledge bases: documents split into overlapping chunks, searchable by full text
-- (tsvector) and, when an embedding provider is configured, by vector similarity.

create table smartflow_ai.knowledge_bases (
    id uuid primary key default gen_random_uuid(),
    workspace_id uuid not null references smartflow_shared.workspaces (id) on delete cascade,
    name varchar(255) not null,
    description text,
    language regconfig not null default 'english',
    -- Set by the first embedding: later vectors must come from the same model to compare.
    embedding_provider text,
    embedding_model text,
    embedding_dimensions integer,
    -- Bumped whenever its chunks or vectors change, so in-process vector caches know when to reload.
    revision bigint not null default 0,
    created_by uuid references smartflow_main.users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index knowledge_bases_workspace_idx
    on smartflow_ai.knowledge_bases (workspace_id, created_at desc);

create table smartflow_ai.documents (
    id uuid primary key default gen_random_uuid(),
    knowledge_base_id uuid not null references smartflow_ai.knowledge_bases (id) on delete cascade,
    workspace_id uuid not null,
    title text not null,
    source text not null check (source in ('text', 'markdown', 'html', 'pdf', 'upload')),
    upload_id uuid,
    -- The extracted plain text; chunk offsets point into it.
    content text not null default '',
    content_hash text not null,
    metadata jsonb not null default '{}',
    status text not null default 'pending'
        check (status in ('pending', 'processing', 'ready', 'failed')),
    error text,
    char_count integer not null default 0,
    chunk_count integer not null default 0,
    duplicate_chunks integer not null default 0,
    created_by uuid references smartflow_main.users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (knowledge_base_id, content_hash)
);
create index documents_kb_idx on smartflow_ai.documents (knowledge_base_id, created_at desc);

create table smartflow_ai.chunks (
    id uuid primary key default gen_random_uuid(),
    document_id uuid not null references smartflow_ai.documents (id) on delete cascade,
    knowledge_base_id uuid not null,
    workspace_id uuid not null,
    ordinal integer not null,
    content text not null,
    content_hash text not null,
    -- Character offsets of the chunk in its document's text.
    start_offset integer not null,
    end_offset integer not null,
    metadata jsonb not null default '{}',
    language regconfig not null,
    tsv tsvector generated always as (to_tsvector(language, content)) stored,
    embedding real[],
    unique (knowledge_base_id, content_hash)
);
create index chunks_document_idx on smartflow_ai.chunks (document_id, ordinal);
create index chunks_tsv_idx on smartflow_ai.chunks using gin (tsv);
create index chunks_metadata_idx on smartflow_ai.chunks using gin (metadata jsonb_path_ops);

-- pgvector where the server has it: vectors are then ranked in SQL. Elsewhere `embedding`
-- (real[]) is ranked in-process. The column has no fixed dimension, since each knowledge
-- base keeps its own model's.
do $$
begin
    create extension if not exists vector;
exception when others then
    raise notice 'pgvector is not available (%); vectors are ranked in-process', sqlerrm;
end
$$;

do $$
begin
    if exists (select 1 from pg_extension where extname = 'vector') then
        execute 'alter table smartflow_ai.chunks add column embedding_vector vector';
    end if;
end
$$;
