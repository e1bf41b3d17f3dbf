//! Bluesky (AT Protocol, XRPC against the account's PDS): images through
//! `com.atproto.repo.uploadBlob`, posts as `app.bsky.feed.post` records through
//! `com.atproto.repo.createRecord`, with facets for links, mentions and hashtags.

mod errors;
mod facets;
mod records;
mod session;

pub use session::BlueskySession;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    adapter::PlatformAdapter,
    common::{comment_outcome, reject_invalid, require_bytes},
    error::PlatformError,
    http::{Effect, Http, join, with_query},
    limits,
    oauth::TokenSet,
    rules::{PlatformRules, RuleViolation},
    settings::BlueskySettings,
    types::{
        AccountContext, AccountMetrics, Platform, PostDraft, PostMetrics, PublishRequest,
        Published, RemoteAccount, RemotePost,
    },
};
use errors::xrpc_error;
use records::StrongRef;
use session::{SessionResponse, deterministic_tid};

const POST_COLLECTION: &str = "app.bsky.feed.post";

pub struct BlueskyAdapter {
    http: Http,
    settings: BlueskySettings,
    rules: PlatformRules,
}

impl BlueskyAdapter {
    pub fn new(
        client: reqwest::Client,
        settings: &BlueskySettings,
        timeout: Duration,
        upload_timeout: Duration,
    ) -> Self {
        let http = Http::new(client, Platform::Bluesky, timeout, upload_timeout);
        BlueskyAdapter { http, settings: settings.clone(), rules: limits::bluesky() }
    }

    fn pds<'a>(&'a self, ctx: &'a AccountContext) -> &'a str {
        ctx.instance_url.as_deref().unwrap_or(&self.settings.default_pds_url)
    }

    fn xrpc(&self, pds: &str, method: &str) -> String {
        join(pds, &format!("xrpc/{method}"))
    }

    /// Logs in with a handle (or DID / e-mail) and an app password.
    pub async fn create_session(
        &self,
        identifier: &str,
        app_password: &str,
        pds_url: Option<&str>,
    ) -> Result<BlueskySession, PlatformError> {
        let pds = pds_url.unwrap_or(&self.settings.default_pds_url);
        let request = self
            .http
            .client
            .post(self.xrpc(pds, "com.atproto.server.createSession"))
            .json(&json!({ "identifier": identifier, "password": app_password }));
        let session: SessionResponse =
            self.http.json(request, Effect::Read, xrpc_error, &[app_password]).await?;
        Ok(session.into_session(pds))
    }

    /// New access and refresh JWTs; the refresh JWT rotates, so store the new one.
    pub async fn refresh_session(
        &self,
        pds_url: &str,
        refresh_jwt: &str,
    ) -> Result<BlueskySession, PlatformError> {
        let request = self
            .http
            .client
            .post(self.xrpc(pds_url, "com.atproto.server.refreshSession"))
            .bearer_auth(refresh_jwt);
        let session: SessionResponse =
            self.http.json(request, Effect::Read, xrpc_error, &[refresh_jwt]).await?;
        Ok(session.into_session(pds_url))
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        ctx: &AccountContext,
        method: &str,
        params: &[(&str, String)],
    ) -> Result<T, PlatformError> {
        let url = with_query(&self.xrpc(self.pds(ctx), method), params);
        let request = self.http.client.get(url).bearer_auth(ctx.access_token());
        self.http.json(request, Effect::Read, xrpc_error, &[ctx.access_token()]).await
    }
}

#[async_trait]
impl PlatformAdapter for BlueskyAdapter {
    fn platform(&self) -> Platform {
        Platform::Bluesky
    }

    fn validate(&self, draft: &PostDraft) -> Vec<RuleViolation> {
        self.rules.validate(draft)
    }

    async fn publish(
        &self,
        ctx: &AccountContext,
        post: &PublishRequest,
    ) -> Result<Published, PlatformError> {
        reject_invalid(&self.rules, post)?;
        let mut images = Vec::with_capacity(post.media.len());
        for (i, item) in post.media.iter().enumerate() {
            let bytes = require_bytes(Platform::Bluesky, item, i)?;
            let blob = self.upload_blob(ctx, bytes, &item.info.essence()).await?;
            let mut image =
                json!({ "alt": item.info.alt_text.clone().unwrap_or_default(), "image": blob });
            if let (Some(w), Some(h)) = (item.info.width, item.info.height) {
                image["aspectRatio"] = json!({ "width": w, "height": h });
            }
            images.push(image);
        }
        let created_at = post.created_at.unwrap_or_else(Utc::now);
        let mut record = self.record(ctx, &post.text, created_at).await;
        if !images.is_empty() {
            record["embed"] = json!({ "$type": "app.bsky.embed.images", "images": images });
        }
        let rkey = post.created_at.map(|at| deterministic_tid(at, &post.idempotency_key));
        let created = self.create_post(ctx, record, rkey).await?;
        let mut published = self.published(created.clone());
        if let Some(text) = &post.first_comment {
            let rkey = post.created_at.map(|at| {
                deterministic_tid(at, &format!("{}:first-comment", post.idempotency_key))
            });
            let result = self.reply_to(ctx, created, None, text, rkey).await;
            published.first_comment = Some(comment_outcome(result));
        }
        Ok(published)
    }

    async fn comment(
        &self,
        ctx: &AccountContext,
        parent_remote_id: &str,
        text: &str,
        _idempotency_key: &str,
    ) -> Result<Published, PlatformError> {
        let rkey = parent_remote_id.rsplit('/').next().unwrap_or("");
        let (parent, value) = self.get_post(ctx, rkey).await?.ok_or_else(|| {
            PlatformError::validation(Platform::Bluesky, "the post to reply to no longer exists")
        })?;
        // Replying to a reply keeps the thread's root.
        let root = value
            .get("reply")
            .and_then(|r| r.get("root"))
            .and_then(|r| serde_json::from_value::<StrongRef>(r.clone()).ok());
        self.reply_to(ctx, parent, root, text, None).await
    }

    async fn recent_posts(
        &self,
        ctx: &AccountContext,
        since: DateTime<Utc>,
    ) -> Result<Vec<RemotePost>, PlatformError> {
        #[derive(Deserialize)]
        struct Listed {
            #[serde(default)]
            records: Vec<Entry>,
        }
        #[derive(Deserialize)]
        struct Entry {
            uri: String,
            value: Value,
        }
        // Read from the PDS itself: it has the record the moment it is written, unlike the
        // AppView feeds.
        let listed: Listed = self
            .get(
                ctx,
                "com.atproto.repo.listRecords",
                &[
                    ("repo", ctx.account_id.clone()),
                    ("collection", POST_COLLECTION.into()),
                    ("limit", "50".into()),
                ],
            )
            .await?;
        Ok(listed
            .records
            .into_iter()
            .filter_map(|r| {
                let created_at = DateTime::parse_from_rfc3339(r.value.get("createdAt")?.as_str()?)
                    .ok()?
                    .with_timezone(&Utc);
                (created_at >= since).then(|| RemotePost {
                    url: self.web_url(&r.uri),
                    text: r.value.get("text").and_then(Value::as_str).unwrap_or("").to_string(),
                    remote_id: r.uri,
                    created_at,
                })
            })
            .collect())
    }

    async fn post_metrics(
        &self,
        ctx: &AccountContext,
        remote_ids: &[String],
    ) -> Result<Vec<PostMetrics>, PlatformError> {
        #[derive(Deserialize)]
        struct Posts {
            #[serde(default)]
            posts: Vec<Value>,
        }
        let mut out = Vec::with_capacity(remote_ids.len());
        for uris in remote_ids.chunks(25) {
            let params: Vec<(&str, String)> = uris.iter().map(|u| ("uris", u.clone())).collect();
            let posts: Posts = self.get(ctx, "app.bsky.feed.getPosts", &params).await?;
            out.extend(posts.posts.iter().filter_map(|p| {
                let count = |k: &str| p.get(k).and_then(Value::as_i64);
                Some(PostMetrics {
                    remote_id: p.get("uri")?.as_str()?.to_string(),
                    impressions: None,
                    likes: count("likeCount"),
                    reposts: count("repostCount"),
                    replies: count("replyCount"),
                    clicks: None,
                })
            }));
        }
        Ok(out)
    }

    async fn account_metrics(&self, ctx: &AccountContext) -> Result<AccountMetrics, PlatformError> {
        let profile: Value = self
            .get(ctx, "app.bsky.actor.getProfile", &[("actor", ctx.account_id.clone())])
            .await?;
        let count = |k: &str| profile.get(k).and_then(Value::as_i64);
        Ok(AccountMetrics {
            followers: count("followersCount"),
            following: count("followsCount"),
            posts: count("postsCount"),
        })
    }

    async fn verify_account(&self, ctx: &AccountContext) -> Result<RemoteAccount, PlatformError> {
        let profile: Value = self
            .get(ctx, "app.bsky.actor.getProfile", &[("actor", ctx.account_id.clone())])
            .await?;
        let text = |k: &str| profile.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(RemoteAccount {
            id: text("did").unwrap_or_else(|| ctx.account_id.clone()),
            url: text("handle").map(|h| join(&self.settings.web_url, &format!("profile/{h}"))),
            username: text("handle"),
            display_name: text("displayName"),
        })
    }

    async fn refresh(
        &self,
        ctx: &AccountContext,
        refresh_token: &str,
    ) -> Result<TokenSet, PlatformError> {
        Ok(self.refresh_session(self.pds(ctx), refresh_token).await?.tokens)
    }
}
