//! Reading the account's recent posts after an attempt whose outcome is unknown.

use chrono::{DateTime, Utc};

use super::{Run, Step};
use crate::{
    modules::social::{
        accounts::tokens::Credentials,
        platforms::{PlatformError, find_match, reconcile::CLOCK_SKEW},
        publish::ledger,
    },
    platform::jobs::{JobError, Outcome},
};

impl Run<'_> {
    /// Looks for the post among the account's recent posts; `Go` when it is not there.
    pub(super) async fn reconcile(
        &mut self,
        creds: &mut Credentials,
        text: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<Step<()>> {
        loop {
            let mut conn = self.state.db.acquire().await?;
            let Some(attempt) =
                ledger::start_attempt(&mut conn, &self.t, self.token, "reconcile").await?
            else {
                return Ok(Step::Stop(Ok(Outcome::Done)));
            };
            drop(conn);
            let found = self.adapter.recent_posts(&creds.context(), since - CLOCK_SKEW).await;
            let mut tx = self.state.db.begin().await?;
            match found {
                Ok(posts) => match find_match(&posts, text, since) {
                    Some(post) => {
                        ledger::finish_attempt(&mut tx, attempt.id, "reconciled", None).await?;
                        ledger::confirm(
                            &mut tx,
                            &self.t,
                            self.token,
                            &post.remote_id,
                            post.url.as_deref(),
                            None,
                        )
                        .await?;
                        tx.commit().await?;
                        tracing::info!(target = %self.t.id, remote = %post.remote_id, "unknown outcome reconciled: the post exists");
                        return Ok(Step::Stop(Ok(Outcome::Done)));
                    }
                    None => {
                        ledger::finish_attempt(&mut tx, attempt.id, "not_found", None).await?;
                        tx.commit().await?;
                        return Ok(Step::Go(()));
                    }
                },
                Err(e) => {
                    ledger::finish_attempt(&mut tx, attempt.id, "error", Some(&e)).await?;
                    tx.commit().await?;
                    if matches!(e, PlatformError::Auth { refreshable: true, .. }) && !self.refreshed
                    {
                        match self.refresh(creds.clone()).await? {
                            Step::Go(c) => {
                                *creds = c;
                                continue;
                            }
                            Step::Stop(r) => return Ok(Step::Stop(r)),
                        }
                    }
                    if let PlatformError::Auth { .. } = e {
                        return Ok(Step::Stop(self.auth_failure(&e).await));
                    }
                    // Cannot tell yet: stay unconfirmed and look again later.
                    let delay = self.backoff(e.retry_after());
                    if self.ctx.is_last_attempt() {
                        return Ok(Step::Stop(self.fail("unknown_outcome", e.hint()).await));
                    }
                    return Ok(Step::Stop(Err(JobError::retry_after(
                        anyhow::anyhow!("{e}"),
                        delay,
                    ))));
                }
            }
        }
    }
}
