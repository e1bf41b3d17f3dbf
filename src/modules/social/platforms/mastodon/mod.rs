//! Mastodon (any instance): media through `POST /api/v2/media` (processed asynchronously for
//! large files), statuses through `POST /api/v1/statuses` with an `Idempotency-Key`, so a
//! retried attempt returns the status created the first time instead of a second one.

mod html;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    adapter::PlatformAdapter,
    common::{comment_outcome, pause, reject_invalid, require_bytes},
    error::{ErrorClass, PlatformError},
    http::{Effect, Http, RemoteError, Reply, join, with_query},
    limits,
    multipart::{Multipart, filename_for},
    rules::{PlatformRules, RuleViolation},
    settings::MastodonSettings,
    types::{
        AccountContext, AccountMetrics, MediaItem, Platform, PostDraft, PostMetrics,
        PublishRequest, Published, RemoteAccount, RemotePost,
    },
};

pub struct MastodonAdapter {
    http: Http,
    settings: MastodonSettings,
    rules: PlatformRules,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    content: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    favourites_count: Option<i64>,
    #[serde(default)]
    reblogs_count: Option<i64>,
    #[serde(default)]
    replies_count: Option<i64>,
}

#[derive(Deserialize)]
struct Attachment {
    id: String,
    #[serde(default)]
    url: Option<String>,
}

/// `{"error": "…"}`, sometimes with `error_description` (OAuth errors).
fn mastodon_error(reply: &Reply) -> RemoteError {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        error_description: Option<String>,
    }
    let body: Body = serde_json::from_slice(&reply.body).unwrap_or_default();
    RemoteError {
        message: body.error_description.or(body.error).unwrap_or_default(),
        code: None,
        // Mastodon tokens do not expire and cannot be refreshed: a 401 means revoked.
        class: (reply.status.as_u16() == 401).then_some(ErrorClass::Auth { refreshable: false }),
        hint: None,
    }
}

impl MastodonAdapter {
    pub fn new(
        client: reqwest::Client,
        settings: &MastodonSettings,
        timeout: Duration,
        upload_timeout: Duration,
    ) -> Self {
        let http = Http::new(client, Platform::Mastodon, timeout, upload_timeout);
        let rules = limits::mastodon(settings.max_characters);
        MastodonAdapter { http, settings: settings.clone(), rules }
    }

    fn request(
        &self,
        ctx: &AccountContext,
        method: Method,
        path: &str,
    ) -> Result<RequestBuilder, PlatformError> {
        let instance =
            ctx.instance_url.as_deref().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
                PlatformError::config(Platform::Mastodon, "the linked account has no instance URL")
            })?;
        Ok(self.http.client.request(method, join(instance, path)).bearer_auth(ctx.access_token()))
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
        effect: Effect,
        ctx: &AccountContext,
    ) -> Result<T, PlatformError> {
        self.http.json(request, effect, mastodon_error, &[ctx.access_token()]).await
    }

    async fn upload(
        &self,
        ctx: &AccountContext,
        item: &MediaItem,
        index: usize,
    ) -> Result<String, PlatformError> {
        let bytes = require_bytes(Platform::Mastodon, item, index)?;
        let mime = item.info.essence();
        let mut form = Multipart::new().file("file", &filename_for(&mime, index), &mime, bytes);
        if let Some(alt) = item.info.alt_text.as_ref().filter(|a| !a.trim().is_empty()) {
            form = form.text("description", alt);
        }
        let (content_type, body) = form.finish();
        let request = self
            .request(ctx, Method::POST, "/api/v2/media")?
            .header("content-type", content_type)
            .body(body);
        let reply =
            self.http.send(request, Effect::Upload, mastodon_error, &[ctx.access_token()]).await?;
        let attachment: Attachment = self.http.decode(&reply, Effect::Upload)?;
        // 202 (or no URL yet): the instance is still transcoding; attaching it now fails.
        if reply.status.as_u16() == 202 || attachment.url.is_none() {
            self.wait_processed(ctx, &attachment.id).await?;
        }
        Ok(attachment.id)
    }

    async fn wait_processed(&self, ctx: &AccountContext, id: &str) -> Result<(), PlatformError> {
        let attempts = self.settings.media_poll_attempts.max(1);
        for attempt in 0..attempts {
            pause(self.settings.media_poll_interval_ms).await;
            let request = self.request(ctx, Method::GET, &format!("/api/v1/media/{id}"))?;
            let reply = self
                .http
                .send(request, Effect::Read, mastodon_error, &[ctx.access_token()])
                .await?;
            // 206 Partial Content: still processing.
            if reply.status.as_u16() == 200 {
                return Ok(());
            }
            if attempt + 1 == attempts {
                break;
            }
        }
        Err(PlatformError::transient(
            Platform::Mastodon,
            "the instance is still processing the media; the post will be tried again",
        ))
    }

    async fn create_status(
        &self,
        ctx: &AccountContext,
        body: Value,
        idempotency_key: &str,
    ) -> Result<Published, PlatformError> {
        let request = self
            .request(ctx, Method::POST, "/api/v1/statuses")?
            .header("Idempotency-Key", idempotency_key)
            .json(&body);
        let status: Status = self.call(request, Effect::Create, ctx).await?;
        Ok(Published { url: status.url.or(status.uri), remote_id: status.id, first_comment: None })
    }

    /// The instance's own post length (`configuration.statuses.max_characters` of
    /// `/api/v2/instance`, else `/api/v1/instance`, or `max_toot_chars` on forks that predate
    /// it); `None` when it does not say, and the configured default applies.
    pub async fn instance_max_characters(&self, ctx: &AccountContext) -> Option<usize> {
        for path in ["/api/v2/instance", "/api/v1/instance"] {
            let request = match self.request(ctx, Method::GET, path) {
                Ok(r) => r,
                Err(_) => return None,
            };
            match self.call::<Value>(request, Effect::Read, ctx).await {
                Ok(info) => {
                    let max = info
                        .pointer("/configuration/statuses/max_characters")
                        .or_else(|| info.get("max_toot_chars"))
                        .and_then(Value::as_u64)
                        .filter(|n| *n > 0)
                        .and_then(|n| usize::try_from(n).ok());
                    if max.is_some() {
                        return max;
                    }
                }
                Err(e) => tracing::debug!(error = %e, path, "instance limits unavailable"),
            }
        }
        None
    }

    /// The rules for this account: its instance's text limit where it said one.
    fn rules_for(&self, ctx: &AccountContext) -> PlatformRules {
        match ctx.max_characters {
            Some(max) => limits::mastodon(max),
            None => self.rules.clone(),
        }
    }

    async fn me(&self, ctx: &AccountContext) -> Result<Value, PlatformError> {
        let request = self.request(ctx, Method::GET, "/api/v1/accounts/verify_credentials")?;
        self.call(request, Effect::Read, ctx).await
    }
}

#[async_trait]
impl PlatformAdapter for MastodonAdapter {
    fn platform(&self) -> Platform {
        Platform::Mastodon
    }

    fn validate(&self, draft: &PostDraft) -> Vec<RuleViolation> {
        self.rules.validate(draft)
    }

    async fn publish(
        &self,
        ctx: &AccountContext,
        post: &PublishRequest,
    ) -> Result<Published, PlatformError> {
        reject_invalid(&self.rules_for(ctx), post)?;
        let mut media_ids = Vec::with_capacity(post.media.len());
        for (i, item) in post.media.iter().enumerate() {
            media_ids.push(self.upload(ctx, item, i).await?);
        }
        let body = json!({
            "status": post.text,
            "media_ids": media_ids,
            "visibility": self.settings.visibility,
        });
        let mut published = self.create_status(ctx, body, &post.idempotency_key).await?;
        if let Some(text) = &post.first_comment {
            let key = format!("{}:first-comment", post.idempotency_key);
            let result = self.comment(ctx, &published.remote_id, text, &key).await;
            published.first_comment = Some(comment_outcome(result));
        }
        Ok(published)
    }

    async fn comment(
        &self,
        ctx: &AccountContext,
        parent_remote_id: &str,
        text: &str,
        idempotency_key: &str,
    ) -> Result<Published, PlatformError> {
        let body = json!({
            "status": text,
            "in_reply_to_id": parent_remote_id,
            "visibility": self.settings.visibility,
        });
        self.create_status(ctx, body, idempotency_key).await
    }

    async fn recent_posts(
        &self,
        ctx: &AccountContext,
        since: DateTime<Utc>,
    ) -> Result<Vec<RemotePost>, PlatformError> {
        let account_id = if ctx.account_id.is_empty() {
            self.me(ctx).await?.get("id").and_then(Value::as_str).unwrap_or("").to_string()
        } else {
            ctx.account_id.clone()
        };
        let path = with_query(
            &format!("/api/v1/accounts/{account_id}/statuses"),
            &[("limit", "40"), ("exclude_reblogs", "true")],
        );
        let statuses: Vec<Status> =
            self.call(self.request(ctx, Method::GET, &path)?, Effect::Read, ctx).await?;
        Ok(statuses
            .into_iter()
            .filter(|s| s.created_at >= since)
            .map(|s| RemotePost {
                text: html::to_text(&s.content),
                created_at: s.created_at,
                url: s.url.or(s.uri),
                remote_id: s.id,
            })
            .collect())
    }

    async fn post_metrics(
        &self,
        ctx: &AccountContext,
        remote_ids: &[String],
    ) -> Result<Vec<PostMetrics>, PlatformError> {
        let mut out = Vec::with_capacity(remote_ids.len());
        for id in remote_ids {
            let request = self.request(ctx, Method::GET, &format!("/api/v1/statuses/{id}"))?;
            match self.call::<Status>(request, Effect::Read, ctx).await {
                Ok(s) => out.push(PostMetrics {
                    remote_id: s.id,
                    impressions: None,
                    likes: s.favourites_count,
                    reposts: s.reblogs_count,
                    replies: s.replies_count,
                    clicks: None,
                }),
                // Deleted since: nothing to count.
                Err(PlatformError::Validation { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn account_metrics(&self, ctx: &AccountContext) -> Result<AccountMetrics, PlatformError> {
        let me = self.me(ctx).await?;
        let count = |k: &str| me.get(k).and_then(Value::as_i64);
        Ok(AccountMetrics {
            followers: count("followers_count"),
            following: count("following_count"),
            posts: count("statuses_count"),
        })
    }

    async fn verify_account(&self, ctx: &AccountContext) -> Result<RemoteAccount, PlatformError> {
        let me = self.me(ctx).await?;
        let text = |k: &str| me.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(RemoteAccount {
            id: text("id").ok_or_else(|| self.http.missing(Effect::Read, "the account id"))?,
            username: text("acct"),
            display_name: text("display_name"),
            url: text("url"),
        })
    }
}
