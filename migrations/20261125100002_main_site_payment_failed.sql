-- A failed renewal is recorded on the subscription itself, so the workspace shows it (and is
-- `past_due`) even when Stripe's `customer.subscription.updated` arrives late or not at all.
alter table smartflow_shared.subscriptions add column last_payment_failed_at timestamptz;

-- /admin/subscriptions pages through subscriptions, last changed first.
create index subscriptions_updated_idx on smartflow_shared.subscriptions (updated_at desc, workspace_id desc);
