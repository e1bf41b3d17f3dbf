-- A chunk's text is stored once per knowledge base (deduplicated by content hash), but it may
-- belong to several documents: each place it occurs is a row here, with that document's
-- offsets and metadata. A chunk lives as long as one document references it.

create table smartflow_ai.chunk_sources (
    document_id uuid not null references smartflow_ai.documents (id) on delete cascade,
    ordinal integer not null,
    chunk_id uuid not null references smartflow_ai.chunks (id) on delete cascade,
    knowledge_base_id uuid not null,
    workspace_id uuid not null,
    -- Character offsets of the chunk in this document's text.
    start_offset integer not null,
    end_offset integer not null,
    metadata jsonb not null default '{}',
    primary key (document_id, ordinal)
);
create index chunk_sources_chunk_idx on smartflow_ai.chunk_sources (chunk_id);
create index chunk_sources_metadata_idx
    on smartflow_ai.chunk_sources using gin (metadata jsonb_path_ops);

insert into smartflow_ai.chunk_sources
    (document_id, ordinal, chunk_id, knowledge_base_id, workspace_id, start_offset, end_offset, metadata)
select document_id, ordinal, id, knowledge_base_id, workspace_id, start_offset, end_offset, metadata
from smartflow_ai.chunks;

-- Where a chunk occurs is now in chunk_sources; deleting a document no longer cascades to
-- text another document shares.
drop index smartflow_ai.chunks_document_idx;
drop index smartflow_ai.chunks_metadata_idx;
alter table smartflow_ai.chunks
    drop column document_id,
    drop column ordinal,
    drop column start_offset,
    drop column end_offset,
    drop column metadata,
    -- Chunks went with their document before; now they go with their knowledge base.
    add constraint chunks_knowledge_base_fk foreign key (knowledge_base_id)
        references smartflow_ai.knowledge_bases (id) on delete cascade;

-- Usage of a stream that failed after part of its answer is estimated where the provider
-- reported none; such rows say so.
alter table smartflow_ai.usage_ledger add column estimated boolean not null default false;
