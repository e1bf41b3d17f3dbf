//! The safety net behind "posts that silently never go out": every 30 seconds, any due target
//! that no worker claimed within `sweeper_grace_secs` (30 s, so at most a minute passes), and
//! any in-flight target whose job is gone, raises an alarm (error log,
//! `social_publish_stuck_total`, an alarm count on the target, a `post.delayed` event) and is
//! re-queued. Housekeeping of expired OAuth states too.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::queue;
use crate::platform::{
    events::{Actor, Event, record_event},
    jobs::{Job, JobContext, JobResult, Outcome},
};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sweep {}

#[async_trait]
impl Job for Sweep {
    const KIND: &'static str = "social.sweep";
    const QUEUE: &'static str = "social";
    const MAX_ATTEMPTS: i32 = 3;
    const PRIORITY: i16 = 0;

    async fn run(self, ctx: JobContext) -> JobResult {
        let state = &ctx.state;
        let grace = state.settings.social.publishing.sweeper_grace_secs as f64;
        let mut tx = state.db.begin().await?;
        // Due and waiting too long, or in flight with no job left to finish them.
        let stuck: Vec<(Uuid, Uuid, Uuid, String, f64)> = sqlx::query_as(
            "select t.id, t.post_id, t.workspace_id, t.state, \
                    extract(epoch from now() - greatest(t.due_at, t.next_attempt_at, t.updated_at))::float8 \
             from smartflow_social.post_targets t \
             where ((t.state = 'scheduled' \
                     and greatest(t.due_at, t.next_attempt_at) < now() - make_interval(secs => $1)) \
                 or (t.state in ('claimed', 'sent', 'unconfirmed') \
                     and t.updated_at < now() - make_interval(secs => $1))) \
               and not exists (select 1 from smartflow_shared.jobs j \
                   where j.unique_key = 'social.publish:' || t.id::text and j.state = 'running') \
             order by t.due_at limit 500 for update of t skip locked",
        )
        .bind(grace)
        .fetch_all(&mut *tx)
        .await?;
        let mut requeued = 0;
        for (id, post, workspace, target_state, late) in &stuck {
            // In flight with a job that will pick it up (a retry waiting): not stuck.
            if target_state != "scheduled" && queue::has_active_job(&mut tx, *id).await? {
                continue;
            }
            tracing::error!(target = %id, post = %post, state = %target_state, late_secs = late,
                "social post target is overdue and unclaimed; re-queuing");
            metrics::counter!("social_publish_stuck_total").increment(1);
            sqlx::query(
                "update smartflow_social.post_targets set alarm_count = alarm_count + 1, \
                 last_alarm_at = now() where id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            queue::requeue(&mut tx, *workspace, *id).await?;
            record_event(
                &mut tx,
                &Actor::system("social"),
                Event::new(
                    "post.delayed",
                    "post",
                    post,
                    json!({ "post_id": post, "target_id": id, "state": target_state,
                            "late_secs": late.round() }),
                )
                .workspace(*workspace)
                .unaudited(),
            )
            .await?;
            requeued += 1;
        }
        sqlx::query(
            "delete from smartflow_social.oauth_states where expires_at < now() - interval '1 day'",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from smartflow_social.oauth_pending where expires_at < now() - interval '1 day'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if requeued > 0 {
            tracing::warn!(requeued, "social sweeper re-queued overdue targets");
        }
        Ok(Outcome::Done)
    }
}
