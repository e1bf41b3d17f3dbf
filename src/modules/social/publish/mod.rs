//! Publishing, exactly once: the ledger (`post_targets` + `publish_attempts`), the publish job
//! of each target, the sweeper, and the rate budgets.

mod attempt;
pub mod budget;
pub mod ledger;
mod media;
mod ownership;
pub mod queue;
pub mod status;
pub mod sweeper;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::platform::jobs::{Job, JobContext, JobResult};

/// Publishes one (post, account) target. Enqueued in the post's transaction to run at the
/// due time, unique per target.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishTarget {
    pub target_id: Uuid,
}

#[async_trait]
impl Job for PublishTarget {
    const KIND: &'static str = "social.publish";
    const QUEUE: &'static str = "social";
    /// The ledger counts platform attempts (`social.publishing.max_attempts`); this only bounds
    /// infrastructure failures, after which the sweeper re-queues the target.
    const MAX_ATTEMPTS: i32 = 50;
    const PRIORITY: i16 = 1;

    fn unique_key(&self) -> Option<String> {
        Some(queue::key(self.target_id))
    }

    /// Above the longest publish (large uploads, Instagram processing); a run cut short is
    /// reconciled by the next one.
    fn timeout() -> Duration {
        Duration::from_secs(900)
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        attempt::run(&ctx, self.target_id).await
    }
}
