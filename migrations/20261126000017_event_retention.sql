-- The prune job deletes delivery attempts by age.
create index webhook_deliveries_created_idx on smartflow_shared.webhook_deliveries (created_at);
