//! Reading the account's recent posts after an attempt whose outcome is unknown.

use chrono::{DateTime, Utc};

use super::{Run, Step};
use crate::{
    modules::social::{
        accounts::tokens::Credentials,
        platforms::{PlatformError, find_match_excluding, reconcile::CLOCK_SKEW},
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
            let posts = match found {
                Ok(posts) => posts,
                Err(e) => {
                    ledger::finish_attempt(&mut tx, attempt.id, "error", Some(&e), None).await?;
                    tx.commit().await?;
                    match self.read_failed(creds, e, attempt.number).await? {
                        Some(step) => return Ok(step),
                        None => continue,
                    }
                }
            };
            // One reconciliation per account at a time, and never a post another target of
            // the account already claimed (two identical posts scheduled together).
            ledger::lock_account(&mut tx, self.t.account_id).await?;
            let taken = ledger::taken_remote_ids(&mut tx, &self.t, since - CLOCK_SKEW * 2).await?;
            match find_match_excluding(&posts, text, since, &taken) {
                Some(post) => {
                    ledger::finish_attempt(&mut tx, attempt.id, "reconciled", None, None).await?;
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
                    ledger::finish_attempt(&mut tx, attempt.id, "not_found", None, None).await?;
                    tx.commit().await?;
                    return Ok(Step::Go(()));
                }
            }
        }
    }

    /// The account's posts could not be read. `None`: read again now (with a fresh token).
    async fn read_failed(
        &mut self,
        creds: &mut Credentials,
        e: PlatformError,
        tries: i32,
    ) -> anyhow::Result<Option<Step<()>>> {
        match &e {
            PlatformError::Auth { refreshable: true, .. } if !self.refreshed => {
                return Ok(match self.refresh(creds.clone()).await? {
                    Step::Go(c) => {
                        *creds = c;
                        None
                    }
                    Step::Stop(r) => Some(Step::Stop(r)),
                });
            }
            PlatformError::Auth { .. } => return Ok(Some(Step::Stop(self.auth_failure(&e).await))),
            // Reading is not allowed (LinkedIn members without `r_member_social`, X's free
            // tier) or not possible: waiting will not change that, and posting again could
            // duplicate the post. A person must look.
            PlatformError::Permission { .. }
            | PlatformError::Config { .. }
            | PlatformError::Validation { .. }
            | PlatformError::Media { .. } => {
                let hint = self.cannot_check_hint(e.message());
                return Ok(Some(Step::Stop(self.fail("unknown_outcome", &hint).await)));
            }
            _ => {}
        }
        // Cannot tell yet: stay unconfirmed and look again later, a bounded number of times.
        let cfg = &self.state.settings.social.publishing;
        if tries >= cfg.max_attempts || self.ctx.is_last_attempt() {
            let hint = format!(
                "{} (SmartFlow gave up after {tries} attempts.)",
                self.cannot_check_hint(e.message())
            );
            return Ok(Some(Step::Stop(self.fail("unknown_outcome", &hint).await)));
        }
        let delay = self.backoff(e.retry_after());
        Ok(Some(Step::Stop(Err(JobError::retry_after(anyhow::anyhow!("{e}"), delay)))))
    }

    fn cannot_check_hint(&self, reason: &str) -> String {
        format!(
            "SmartFlow could not check whether {name} published this post ({reason}). Look at \
             the account on {name}: if the post is there, nothing more is needed; if it is \
             missing, use Publish now and confirm you checked, so SmartFlow sends it without \
             looking first.",
            name = self.platform.name()
        )
    }
}
