//! Instagram business accounts (Graph API content publishing): create a media container
//! (`/{ig-user-id}/media`), wait until its `status_code` is `FINISHED`, then
//! `/{ig-user-id}/media_publish`. Several attachments become a carousel.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{Graph, GraphId, GraphList, insight, oauth::MetaOAuth, optional_insights, parse_time};
use crate::modules::social::platforms::{
    adapter::{OAuthProvider, PlatformAdapter},
    common::{comment_outcome, pause, reject_invalid, require_public_url},
    error::{ErrorClass, PlatformError},
    http::{Effect, Http},
    limits,
    rules::{PlatformRules, RuleViolation},
    settings::{InstagramSettings, MetaSettings},
    types::{
        AccountContext, AccountMetrics, MediaItem, MediaKind, Platform, PostDraft, PostMetrics,
        PublishRequest, Published, RemoteAccount, RemotePost,
    },
};

pub struct InstagramAdapter {
    graph: Graph,
    settings: InstagramSettings,
    rules: PlatformRules,
    oauth: MetaOAuth,
}

#[derive(Deserialize)]
struct ContainerStatus {
    #[serde(default)]
    status_code: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct Media {
    id: String,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
}

impl InstagramAdapter {
    pub fn new(
        client: reqwest::Client,
        meta: &MetaSettings,
        settings: &InstagramSettings,
        timeout: Duration,
        upload_timeout: Duration,
    ) -> Self {
        let graph =
            Graph::new(Http::new(client, Platform::Instagram, timeout, upload_timeout), meta);
        let oauth = MetaOAuth::new(graph.clone(), meta, settings.scopes.clone());
        InstagramAdapter { graph, settings: settings.clone(), rules: limits::instagram(), oauth }
    }

    pub fn meta_oauth(&self) -> &MetaOAuth {
        &self.oauth
    }

    /// Creates one container. Containers are invisible until published, so this is an upload.
    async fn container(
        &self,
        ctx: &AccountContext,
        form: Vec<(&str, String)>,
    ) -> Result<String, PlatformError> {
        let path = format!("{}/media", ctx.account_id);
        let created: GraphId =
            self.graph.post_form(&path, ctx.access_token(), &form, Effect::Upload).await?;
        Ok(created.id)
    }

    fn media_fields(
        item: &MediaItem,
        index: usize,
        carousel: bool,
    ) -> Result<Vec<(&'static str, String)>, PlatformError> {
        let url = require_public_url(Platform::Instagram, item, index)?.to_string();
        let mut form = Vec::new();
        if item.info.kind() == MediaKind::Video {
            // Single feed videos are published as reels; carousel items stay videos.
            form.push(("media_type", if carousel { "VIDEO" } else { "REELS" }.to_string()));
            form.push(("video_url", url));
        } else {
            form.push(("image_url", url));
            if let Some(alt) = item.info.alt_text.as_ref().filter(|a| !a.trim().is_empty()) {
                form.push(("alt_text", alt.clone()));
            }
        }
        if carousel {
            form.push(("is_carousel_item", "true".to_string()));
        }
        Ok(form)
    }

    /// Polls the container until Instagram has fetched and processed the media.
    async fn wait_finished(
        &self,
        ctx: &AccountContext,
        container: &str,
    ) -> Result<(), PlatformError> {
        let attempts = self.settings.container_poll_attempts.max(1);
        for attempt in 0..attempts {
            let status: ContainerStatus = self
                .graph
                .get(container, ctx.access_token(), &[("fields", "status_code,status".into())])
                .await?;
            match status.status_code.as_deref().unwrap_or("") {
                "FINISHED" | "PUBLISHED" => return Ok(()),
                "ERROR" => {
                    return Err(PlatformError::media(
                        Platform::Instagram,
                        format!(
                            "Instagram could not process the media: {}",
                            status.status.unwrap_or_else(|| "no reason given".into())
                        ),
                    ));
                }
                // The container lived longer than 24 hours unpublished; a new attempt makes a
                // new one.
                "EXPIRED" => {
                    return Err(PlatformError::transient(
                        Platform::Instagram,
                        "the media container expired before it was published",
                    ));
                }
                _ => {}
            }
            if attempt + 1 < attempts {
                pause(self.settings.container_poll_interval_ms).await;
            }
        }
        Err(PlatformError::new(
            Platform::Instagram,
            ErrorClass::Transient,
            "Instagram is still processing the media; nothing was published, the post will be \
             tried again",
        ))
    }

    async fn permalink(&self, ctx: &AccountContext, id: &str) -> Option<String> {
        let media: Result<Media, _> =
            self.graph.get(id, ctx.access_token(), &[("fields", "id,permalink".into())]).await;
        match media {
            Ok(m) => m.permalink,
            Err(e) => {
                // The post exists; a missing link must not turn success into failure.
                tracing::warn!(error = %e, "Instagram permalink lookup failed");
                None
            }
        }
    }
}

#[async_trait]
impl PlatformAdapter for InstagramAdapter {
    fn platform(&self) -> Platform {
        Platform::Instagram
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
        // Check every URL before creating anything.
        for (i, item) in post.media.iter().enumerate() {
            require_public_url(Platform::Instagram, item, i)?;
        }
        let container = if let [single] = post.media.as_slice() {
            let mut form = Self::media_fields(single, 0, false)?;
            form.push(("caption", post.text.clone()));
            self.container(ctx, form).await?
        } else {
            let mut children = Vec::with_capacity(post.media.len());
            for (i, item) in post.media.iter().enumerate() {
                let child = self.container(ctx, Self::media_fields(item, i, true)?).await?;
                self.wait_finished(ctx, &child).await?;
                children.push(child);
            }
            let form = vec![
                ("media_type", "CAROUSEL".to_string()),
                ("children", children.join(",")),
                ("caption", post.text.clone()),
            ];
            self.container(ctx, form).await?
        };
        self.wait_finished(ctx, &container).await?;

        let path = format!("{}/media_publish", ctx.account_id);
        let form = [("creation_id", container)];
        let media: GraphId =
            self.graph.post_form(&path, ctx.access_token(), &form, Effect::Create).await?;
        let url = self.permalink(ctx, &media.id).await;
        let mut published = Published { remote_id: media.id, url, first_comment: None };
        if let Some(text) = &post.first_comment {
            let result = self.comment(ctx, &published.remote_id, text, &post.idempotency_key).await;
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
        let form = [("message", text.to_string())];
        let path = format!("{parent_remote_id}/comments");
        let created: GraphId =
            self.graph.post_form(&path, ctx.access_token(), &form, Effect::Create).await?;
        Ok(Published { remote_id: created.id, url: None, first_comment: None })
    }

    async fn recent_posts(
        &self,
        ctx: &AccountContext,
        since: DateTime<Utc>,
    ) -> Result<Vec<RemotePost>, PlatformError> {
        let list: GraphList<Media> = self
            .graph
            .get(
                &format!("{}/media", ctx.account_id),
                ctx.access_token(),
                &[
                    ("fields", "id,caption,timestamp,permalink".into()),
                    ("since", since.timestamp().to_string()),
                    ("limit", "50".into()),
                ],
            )
            .await?;
        Ok(list
            .data
            .into_iter()
            .filter_map(|m| {
                let created_at = parse_time(m.timestamp.as_deref()?)?;
                // `since` is a hint on this edge; filter so the contract holds.
                (created_at >= since).then(|| RemotePost {
                    remote_id: m.id,
                    text: m.caption.unwrap_or_default(),
                    created_at,
                    url: m.permalink,
                })
            })
            .collect())
    }

    async fn post_metrics(
        &self,
        ctx: &AccountContext,
        remote_ids: &[String],
    ) -> Result<Vec<PostMetrics>, PlatformError> {
        let token = ctx.access_token();
        let mut out = Vec::with_capacity(remote_ids.len());
        for ids in remote_ids.chunks(50) {
            let objects: serde_json::Map<String, Value> = self
                .graph
                .get(
                    "",
                    token,
                    &[("ids", ids.join(",")), ("fields", "like_count,comments_count".into())],
                )
                .await?;
            for id in ids {
                let Some(object) = objects.get(id) else { continue };
                let insights = optional_insights(
                    self.graph
                        .get(&format!("{id}/insights"), token, &[("metric", "views,shares".into())])
                        .await,
                )?;
                out.push(PostMetrics {
                    remote_id: id.clone(),
                    impressions: insight(&insights, "views"),
                    likes: object.get("like_count").and_then(Value::as_i64),
                    reposts: insight(&insights, "shares"),
                    replies: object.get("comments_count").and_then(Value::as_i64),
                    clicks: None,
                });
            }
        }
        Ok(out)
    }

    async fn account_metrics(&self, ctx: &AccountContext) -> Result<AccountMetrics, PlatformError> {
        let user: Value = self
            .graph
            .get(
                &ctx.account_id,
                ctx.access_token(),
                &[("fields", "followers_count,follows_count,media_count".into())],
            )
            .await?;
        Ok(AccountMetrics {
            followers: user.get("followers_count").and_then(Value::as_i64),
            following: user.get("follows_count").and_then(Value::as_i64),
            posts: user.get("media_count").and_then(Value::as_i64),
        })
    }

    async fn verify_account(&self, ctx: &AccountContext) -> Result<RemoteAccount, PlatformError> {
        let user: Value = self
            .graph
            .get(&ctx.account_id, ctx.access_token(), &[("fields", "id,username,name".into())])
            .await?;
        let text = |k: &str| user.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(RemoteAccount {
            id: text("id").unwrap_or_else(|| ctx.account_id.clone()),
            url: text("username").map(|u| format!("https://www.instagram.com/{u}/")),
            username: text("username"),
            display_name: text("name"),
        })
    }

    fn oauth(&self) -> Option<&dyn OAuthProvider> {
        Some(&self.oauth)
    }
}
