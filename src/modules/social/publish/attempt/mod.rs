//! One run of a target's publish job: lock the ledger row, claim it, reconcile if an earlier
//! attempt may have reached the platform, publish, and record what happened. The row lock
//! (`SKIP LOCKED`) and the claim token make racing workers harmless; the reconciliation makes
//! a crashed or timed-out attempt safe to follow up without posting twice.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

mod reconcile;
mod settle;

use super::{
    budget,
    ledger::{self, CommentResult, Locked, Target},
    media,
};
use crate::{
    modules::social::{
        Social,
        accounts::tokens::{self, Credentials, Refresh},
        platforms::{
            CommentOutcome, Platform, PlatformAdapter, PlatformError, PublishRequest,
            with_request_id,
        },
    },
    platform::jobs::{JobContext, JobError, JobResult, Outcome},
    state::AppState,
};

enum Mode {
    Publish,
    /// An attempt started at `since` may have created the post.
    Reconcile {
        since: DateTime<Utc>,
    },
}

/// Either carry on with a value, or stop the run with this result.
enum Step<T> {
    Go(T),
    Stop(JobResult),
}

fn secs(n: u64) -> chrono::Duration {
    chrono::Duration::seconds(n as i64)
}

pub async fn run(ctx: &JobContext, id: Uuid) -> JobResult {
    let state = &ctx.state;
    let cfg = &state.settings.social.publishing;
    let mut tx = state.db.begin().await?;
    let t = match ledger::lock(&mut tx, id).await? {
        Locked::Gone => return Ok(Outcome::Cancel("the post target no longer exists".into())),
        Locked::Busy => return Ok(Outcome::Snooze(Duration::from_secs(1))),
        Locked::Row(t) => t,
    };
    let now = Utc::now();
    let mode = match t.state.as_str() {
        "scheduled" => {
            let due = t.due_at.max(t.next_attempt_at).unwrap_or(now);
            if due > now + chrono::Duration::milliseconds(200) {
                tx.commit().await?;
                return Ok(Outcome::Snooze((due - now).to_std().unwrap_or_default()));
            }
            if let Some(wait) = budget::take(state, t.account_id, &t.platform).await {
                ledger::defer(&mut tx, t.id, now + chrono::Duration::from_std(wait)?).await?;
                tx.commit().await?;
                return Ok(Outcome::Snooze(wait));
            }
            Mode::Publish
        }
        // Another worker is on it right now: come back when it is done.
        "claimed" | "sent" if ledger::claimed_by_live_run(&mut tx, &t, ctx.id).await? => {
            tx.commit().await?;
            return Ok(Outcome::Snooze(Duration::from_secs(1)));
        }
        // The run that claimed it stopped before anything was sent.
        "claimed" => Mode::Publish,
        "sent" | "unconfirmed" => match ledger::last_attempt(&mut tx, t.id).await? {
            Some((started, in_flight)) => {
                let lost_after = started + secs(cfg.in_flight_timeout_secs);
                if t.state == "sent" && in_flight && lost_after > now {
                    // Its worker may still be waiting for the platform's answer.
                    tx.commit().await?;
                    return Ok(Outcome::Snooze((lost_after - now).to_std().unwrap_or_default()));
                }
                if in_flight {
                    ledger::abandon_in_flight(&mut tx, &t).await?;
                }
                Mode::Reconcile { since: started }
            }
            None => Mode::Publish,
        },
        // confirmed, failed, cancelled, draft: nothing to do.
        _ => {
            tx.commit().await?;
            return Ok(Outcome::Done);
        }
    };
    let token = ledger::claim(&mut tx, t.id, ctx.id).await?;
    ledger::refresh_post(&mut tx, t.post_id).await?;
    tx.commit().await?;
    let social = state.ext::<Social>().map_err(|e| anyhow::anyhow!("{e}"))?;
    let platform: Platform = t.platform.parse()?;
    let mut run = Run {
        state,
        ctx,
        adapter: social.registry.get(platform),
        platform,
        t,
        token,
        refreshed: false,
    };
    run.go(mode).await
}

struct Run<'a> {
    state: &'a AppState,
    ctx: &'a JobContext,
    adapter: Arc<dyn PlatformAdapter>,
    platform: Platform,
    t: Target,
    token: Uuid,
    refreshed: bool,
}

type BodyRow = (
    String,
    sqlx::types::Json<std::collections::BTreeMap<String, String>>,
    sqlx::types::Json<Vec<crate::modules::social::posts::MediaRef>>,
    Option<String>,
);

struct Body {
    text: String,
    media: Vec<crate::modules::social::posts::MediaRef>,
    first_comment: Option<String>,
}

impl Run<'_> {
    async fn go(&mut self, mode: Mode) -> JobResult {
        let mut creds = match self.credentials().await? {
            Step::Go(c) => c,
            Step::Stop(r) => return r,
        };
        let body = self.body().await?;
        if let Mode::Reconcile { since } = mode {
            match self.reconcile(&mut creds, &body.text, since).await? {
                Step::Go(()) => {}
                Step::Stop(r) => return r,
            }
        }
        if let Some(r) = self.out_of_attempts().await? {
            return r;
        }
        self.publish(creds, &body).await
    }

    async fn body(&self) -> anyhow::Result<Body> {
        let (content, variants, media, first_comment): BodyRow = sqlx::query_as(
            "select content, variants, media, first_comment from smartflow_social.posts where id = $1",
        )
        .bind(self.t.post_id)
        .fetch_one(&self.state.db)
        .await?;
        let text = variants.0.get(self.platform.as_str()).cloned().unwrap_or(content);
        Ok(Body { text, media: media.0, first_comment })
    }

    /// The account's tokens, refreshed first when they are about to expire.
    async fn credentials(&mut self) -> anyhow::Result<Step<Credentials>> {
        let mut conn = self.state.db.acquire().await?;
        let loaded = tokens::load(&mut conn, &self.state.cipher, self.t.account_id).await;
        drop(conn);
        let creds = match loaded {
            Ok(c) if c.status == "active" => c,
            _ => {
                let hint = "The account is disconnected or needs to be reconnected: reconnect it, \
                            then use Publish now on this post.";
                return Ok(Step::Stop(self.fail("auth", hint).await));
            }
        };
        if !creds.expires_within(self.state.settings.social.publishing.refresh_skew_secs) {
            return Ok(Step::Go(creds));
        }
        self.refresh(creds).await
    }

    async fn refresh(&mut self, creds: Credentials) -> anyhow::Result<Step<Credentials>> {
        self.refreshed = true;
        Ok(match tokens::refresh(self.state, creds.id, Some(creds.version)).await? {
            Refresh::Done(c) => Step::Go(c),
            // Nothing to refresh with: try as is; a 401 then flags the account.
            Refresh::NotRefreshable(c) => Step::Go(c),
            Refresh::NeedsReauth(e) => Step::Stop(self.fail("auth", e.hint()).await),
            Refresh::Temporary(e) => {
                let give_up = format!(
                    "SmartFlow could not renew its access to your {} account: the login service \
                     kept failing ({}). Reconnect the account, then use Publish now on this post.",
                    self.platform.name(),
                    e.message()
                );
                Step::Stop(self.retry_before_sending(&e, &give_up).await)
            }
        })
    }

    async fn publish(&mut self, mut creds: Credentials, body: &Body) -> JobResult {
        loop {
            let media =
                match media::items(self.state, self.t.workspace_id, &body.media, self.platform)
                    .await
                {
                    Ok(m) => m,
                    Err(media::Missing::Deleted(id)) => {
                        let hint = format!(
                            "An attachment of this post was deleted (upload {id}): attach the \
                             file again, then use Publish now."
                        );
                        return self.fail("media", &hint).await;
                    }
                    Err(media::Missing::Unavailable(e)) => {
                        let err = PlatformError::transient(self.platform, format!("{e:#}"));
                        let give_up = "SmartFlow could not read this post's attachments from its \
                                       file storage: ask your administrator to check it, then \
                                       use Publish now.";
                        return self.retry_before_sending(&err, give_up).await;
                    }
                };
            let request = PublishRequest {
                text: body.text.clone(),
                media,
                first_comment: body.first_comment.clone(),
                idempotency_key: self.t.id.to_string(),
                created_at: Some(self.t.created_at),
            };
            let mut conn = self.state.db.acquire().await?;
            let Some(attempt) =
                ledger::start_attempt(&mut conn, &self.t, self.token, "publish").await?
            else {
                tracing::warn!(target = %self.t.id, "lost the claim before publishing; another run owns it");
                return Ok(Outcome::Done);
            };
            drop(conn);
            tracing::info!(target = %self.t.id, platform = %self.platform, attempt = attempt.number,
                request_id = %attempt.request_id, "publishing");
            let (result, request_id) =
                with_request_id(self.adapter.publish(&creds.context(), &request)).await;
            let mut tx = self.state.db.begin().await?;
            let e = match result {
                Ok(published) => {
                    ledger::finish_attempt(
                        &mut tx,
                        attempt.id,
                        "confirmed",
                        None,
                        request_id.as_deref(),
                    )
                    .await?;
                    let comment = published.first_comment.map(|c| match c {
                        CommentOutcome::Posted { remote_id, .. } => CommentResult {
                            state: "posted",
                            remote_id: Some(remote_id),
                            hint: None,
                        },
                        CommentOutcome::Failed(e) => CommentResult {
                            state: "failed",
                            remote_id: None,
                            hint: Some(e.hint().to_string()),
                        },
                    });
                    let url = published.url.as_deref();
                    ledger::confirm(
                        &mut tx,
                        &self.t,
                        self.token,
                        &published.remote_id,
                        url,
                        comment,
                    )
                    .await?;
                    tx.commit().await?;
                    return Ok(Outcome::Done);
                }
                Err(e) => e,
            };
            let outcome = if e.needs_reconciliation() { "unknown" } else { "error" };
            ledger::finish_attempt(&mut tx, attempt.id, outcome, Some(&e), None).await?;
            match &e {
                PlatformError::Auth { refreshable: true, .. } if !self.refreshed => {
                    ledger::unsend(&mut tx, &self.t, self.token).await?;
                    tx.commit().await?;
                    match self.refresh(creds.clone()).await? {
                        Step::Go(c) if c.version != creds.version => {
                            creds = c;
                            continue;
                        }
                        Step::Go(_) => return self.auth_failure(&e).await,
                        Step::Stop(r) => return r,
                    }
                }
                PlatformError::Auth { .. } => {
                    tx.commit().await?;
                    return self.auth_failure(&e).await;
                }
                PlatformError::RateLimited { .. } => {
                    let until =
                        Utc::now() + chrono::Duration::from_std(self.backoff(e.retry_after()))?;
                    budget::block(self.state, self.t.account_id, until).await;
                    ledger::unsend(&mut tx, &self.t, self.token).await?;
                    tx.commit().await?;
                    return self.retry(&e).await;
                }
                PlatformError::Transient { .. } => {
                    ledger::unsend(&mut tx, &self.t, self.token).await?;
                    tx.commit().await?;
                    return self.retry(&e).await;
                }
                PlatformError::UnknownOutcome { .. } => {
                    ledger::unconfirmed(&mut tx, &self.t, self.token, e.code(), e.hint()).await?;
                    tx.commit().await?;
                    let wait = Duration::from_secs(
                        self.state.settings.social.publishing.reconcile_delay_secs,
                    );
                    return Err(JobError::retry_after(anyhow::anyhow!("{e}"), wait));
                }
                PlatformError::Duplicate { existing_id: Some(existing), .. } => {
                    // The platform names the post with this text: ours, unless it is already
                    // another target's (the same text scheduled twice).
                    ledger::lock_account(&mut tx, self.t.account_id).await?;
                    let since = attempt.at - chrono::Duration::days(30);
                    let taken = ledger::taken_remote_ids(&mut tx, &self.t, since).await?;
                    if taken.contains(existing) {
                        tx.commit().await?;
                        // Nothing was created: the platform refused the text as it is.
                        let hint = format!(
                            "{} refuses the same text twice and this text is already another \
                             post of this account: change the text, then schedule it again.",
                            self.platform.name()
                        );
                        return self.fail("validation", &hint).await;
                    }
                    let url = self.adapter.remote_url(&creds.context(), existing);
                    ledger::confirm(&mut tx, &self.t, self.token, existing, url.as_deref(), None)
                        .await?;
                    tx.commit().await?;
                    tracing::info!(target = %self.t.id, remote = %existing,
                        "the platform named the existing post; confirmed as this target");
                    return Ok(Outcome::Done);
                }
                PlatformError::Duplicate { .. } => {
                    ledger::unconfirmed(&mut tx, &self.t, self.token, e.code(), e.hint()).await?;
                    tx.commit().await?;
                    return match self.reconcile(&mut creds, &body.text, attempt.at).await? {
                        Step::Stop(r) => r,
                        // The platform says it exists, we cannot find it: a person must look.
                        Step::Go(()) => self.fail("duplicate", e.hint()).await,
                    };
                }
                PlatformError::Permission { .. } => {
                    // The account works; this post needs a permission it was not given.
                    tokens::record_error(&mut tx, self.t.account_id, &e).await?;
                    tx.commit().await?;
                    return self.fail(e.code(), e.hint()).await;
                }
                PlatformError::Validation { .. }
                | PlatformError::Media { .. }
                | PlatformError::Config { .. } => {
                    tx.commit().await?;
                    return self.fail(e.code(), e.hint()).await;
                }
            }
        }
    }
}
