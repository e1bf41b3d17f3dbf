//! How a run ends when it does not confirm: fail with a hint, flag the account, or retry later.

use std::time::Duration;

use chrono::Utc;

use super::Run;
use crate::{
    modules::social::{
        accounts::link::mark_needs_reauth, platforms::PlatformError, publish::ledger,
    },
    platform::jobs::{JobError, JobResult, Outcome},
};

impl Run<'_> {
    /// The platform refused the token: flag the account (owner e-mailed) and fail the target.
    pub(super) async fn auth_failure(&self, e: &PlatformError) -> JobResult {
        let mut tx = self.state.db.begin().await?;
        mark_needs_reauth(&mut tx, self.state, self.t.account_id, e).await?;
        ledger::fail(&mut tx, &self.t, Some(self.token), "auth", e.hint()).await?;
        tx.commit().await?;
        Ok(Outcome::Done)
    }

    pub(super) async fn fail(&self, class: &str, hint: &str) -> JobResult {
        let mut tx = self.state.db.begin().await?;
        ledger::fail(&mut tx, &self.t, Some(self.token), class, hint).await?;
        tx.commit().await?;
        Ok(Outcome::Done)
    }

    /// `Retry-After` when the platform gave one, else exponential backoff on the attempts.
    pub(super) fn backoff(&self, retry_after: Option<Duration>) -> Duration {
        let cfg = &self.state.settings.social.publishing;
        retry_after.unwrap_or_else(|| {
            let n = self.t.attempts.clamp(0, 20) as u32;
            Duration::from_secs(cfg.retry_base_secs.saturating_mul(1 << n).min(cfg.retry_max_secs))
        })
    }

    /// Nothing was created: try again later, or give up after `max_attempts`.
    pub(super) async fn retry(&self, e: &PlatformError) -> JobResult {
        let cfg = &self.state.settings.social.publishing;
        let attempts: i32 =
            sqlx::query_scalar("select attempts from smartflow_social.post_targets where id = $1")
                .bind(self.t.id)
                .fetch_one(&self.state.db)
                .await?;
        if attempts >= cfg.max_attempts {
            let hint = format!("{} SmartFlow gave up after {attempts} attempts.", e.hint());
            return self.fail(e.code(), &hint).await;
        }
        self.retry_later(e).await
    }

    /// A failure before any request to the platform went out (the token endpoint, object
    /// storage). It counts as a try, so it cannot loop until the job's own limit (and the
    /// sweeper's re-queue) keep it going for ever; `give_up` is the final hint.
    pub(super) async fn retry_before_sending(&self, e: &PlatformError, give_up: &str) -> JobResult {
        let cfg = &self.state.settings.social.publishing;
        let mut conn = self.state.db.acquire().await?;
        let Some(attempts) = ledger::count_try(&mut conn, &self.t, self.token).await? else {
            return Ok(Outcome::Done); // the claim was lost: another run owns the target
        };
        drop(conn);
        if attempts >= cfg.max_attempts {
            let hint = format!("{give_up} (SmartFlow gave up after {attempts} attempts.)");
            return self.fail(e.code(), &hint).await;
        }
        self.retry_later(e).await
    }

    async fn retry_later(&self, e: &PlatformError) -> JobResult {
        let delay = self.backoff(e.retry_after());
        let next = Utc::now() + chrono::Duration::from_std(delay)?;
        let mut tx = self.state.db.begin().await?;
        ledger::retry_at(&mut tx, &self.t, self.token, next, e.code(), e.hint()).await?;
        tx.commit().await?;
        Err(JobError::retry_after(anyhow::anyhow!("{e}"), delay))
    }

    /// Every try counts (publishing, reconciling, failures before sending): a platform that
    /// never answers in time ends here instead of alternating between the two for ever.
    pub(super) async fn out_of_attempts(&self) -> anyhow::Result<Option<JobResult>> {
        let max = self.state.settings.social.publishing.max_attempts;
        let (tries, class, hint): (i32, Option<String>, Option<String>) = sqlx::query_as(
            "select attempts, last_error_class, last_hint from smartflow_social.post_targets \
             where id = $1",
        )
        .bind(self.t.id)
        .fetch_one(&self.state.db)
        .await?;
        if tries < max {
            return Ok(None);
        }
        let name = self.platform.name();
        let class = class.unwrap_or_else(|| "transient".into());
        let reason = match class.as_str() {
            // Reconciliation just found nothing: the post is not there.
            "unknown_outcome" => format!(
                "{name} never answered in time and the post is not on the account; try Publish \
                 now later."
            ),
            _ => hint.unwrap_or_else(|| format!("{name} did not accept the post.")),
        };
        let hint = format!("{reason} SmartFlow gave up after {tries} attempts.");
        Ok(Some(self.fail(&class, &hint).await))
    }
}
