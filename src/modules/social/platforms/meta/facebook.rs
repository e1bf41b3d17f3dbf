//! Facebook Pages: text and link posts on `/{page-id}/feed`, photos uploaded unpublished to
//! `/{page-id}/photos` and attached to the feed post, one video through `/{page-id}/videos`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{Graph, GraphId, GraphList, insight, oauth::MetaOAuth, optional_insights, parse_time};
use crate::modules::social::platforms::{
    adapter::{OAuthProvider, PlatformAdapter},
    common::{comment_outcome, reject_invalid, require_bytes},
    error::PlatformError,
    http::{Effect, Http, join},
    limits,
    multipart::{Multipart, filename_for},
    rules::{PlatformRules, RuleViolation},
    settings::{FacebookSettings, MetaSettings},
    types::{
        AccountContext, AccountMetrics, MediaItem, MediaKind, Platform, PostDraft, PostMetrics,
        PublishRequest, Published, RemoteAccount, RemotePost,
    },
};

pub struct FacebookAdapter {
    graph: Graph,
    settings: FacebookSettings,
    rules: PlatformRules,
    oauth: MetaOAuth,
}

impl FacebookAdapter {
    pub fn new(
        client: reqwest::Client,
        meta: &MetaSettings,
        settings: &FacebookSettings,
        timeout: Duration,
        upload_timeout: Duration,
    ) -> Self {
        let graph =
            Graph::new(Http::new(client, Platform::Facebook, timeout, upload_timeout), meta);
        let oauth = MetaOAuth::new(graph.clone(), meta, settings.scopes.clone());
        FacebookAdapter { graph, settings: settings.clone(), rules: limits::facebook(), oauth }
    }

    /// Facebook Login, with the Page listing and long-lived token exchange.
    pub fn meta_oauth(&self) -> &MetaOAuth {
        &self.oauth
    }

    fn post_url(&self, id: &str) -> String {
        match id.split_once('_') {
            Some((page, post)) => join(&self.settings.web_url, &format!("{page}/posts/{post}")),
            None => join(&self.settings.web_url, id),
        }
    }

    /// Uploads a photo without publishing it; returns the id to attach.
    async fn upload_photo(
        &self,
        ctx: &AccountContext,
        item: &MediaItem,
        index: usize,
    ) -> Result<String, PlatformError> {
        let token = ctx.access_token();
        let path = format!("{}/photos", ctx.account_id);
        let created: GraphId = match &item.public_url {
            // Facebook fetches the file itself: less data through SmartFlow.
            Some(url) => {
                let form = [("url", url.to_string()), ("published", "false".to_string())];
                self.graph.post_form(&path, token, &form, Effect::Upload).await?
            }
            None => {
                let bytes = require_bytes(Platform::Facebook, item, index)?;
                let mime = item.info.essence();
                let body = Multipart::new().text("published", "false").file(
                    "source",
                    &filename_for(&mime, index),
                    &mime,
                    bytes,
                );
                self.graph.post_multipart(&path, token, body, Effect::Upload).await?
            }
        };
        Ok(created.id)
    }

    async fn publish_video(
        &self,
        ctx: &AccountContext,
        post: &PublishRequest,
        item: &MediaItem,
    ) -> Result<String, PlatformError> {
        let token = ctx.access_token();
        let path = format!("{}/videos", ctx.account_id);
        let created: GraphId = match &item.public_url {
            Some(url) => {
                let form = [("file_url", url.to_string()), ("description", post.text.clone())];
                self.graph.post_form(&path, token, &form, Effect::Create).await?
            }
            None => {
                let bytes = require_bytes(Platform::Facebook, item, 0)?;
                let mime = item.info.essence();
                let body = Multipart::new().text("description", &post.text).file(
                    "source",
                    &filename_for(&mime, 0),
                    &mime,
                    bytes,
                );
                self.graph.post_multipart(&path, token, body, Effect::CreateUpload).await?
            }
        };
        Ok(created.id)
    }
}

#[derive(Deserialize)]
struct FeedPost {
    id: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    permalink_url: Option<String>,
}

#[async_trait]
impl PlatformAdapter for FacebookAdapter {
    fn platform(&self) -> Platform {
        Platform::Facebook
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
        let video = post.media.iter().find(|m| m.info.kind() == MediaKind::Video);
        let mut published = if let Some(video) = video {
            let id = self.publish_video(ctx, post, video).await?;
            let url = join(&self.settings.web_url, &format!("{}/videos/{id}", ctx.account_id));
            Published { remote_id: id, url: Some(url), first_comment: None }
        } else {
            let mut form = vec![("message".to_string(), post.text.clone())];
            for (i, item) in post.media.iter().enumerate() {
                let id = self.upload_photo(ctx, item, i).await?;
                form.push((format!("attached_media[{i}]"), format!("{{\"media_fbid\":\"{id}\"}}")));
            }
            let form: Vec<(&str, String)> =
                form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            let path = format!("{}/feed", ctx.account_id);
            let created: GraphId =
                self.graph.post_form(&path, ctx.access_token(), &form, Effect::Create).await?;
            Published {
                url: Some(self.post_url(&created.id)),
                remote_id: created.id,
                first_comment: None,
            }
        };
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
        let path = format!("{parent_remote_id}/comments");
        let form = [("message", text.to_string())];
        let created: GraphId =
            self.graph.post_form(&path, ctx.access_token(), &form, Effect::Create).await?;
        let url = join(&self.settings.web_url, &created.id);
        Ok(Published { remote_id: created.id, url: Some(url), first_comment: None })
    }

    async fn recent_posts(
        &self,
        ctx: &AccountContext,
        since: DateTime<Utc>,
    ) -> Result<Vec<RemotePost>, PlatformError> {
        let list: GraphList<FeedPost> = self
            .graph
            .get(
                &format!("{}/posts", ctx.account_id),
                ctx.access_token(),
                &[
                    ("fields", "id,message,created_time,permalink_url".into()),
                    ("since", since.timestamp().to_string()),
                    ("limit", "50".into()),
                ],
            )
            .await?;
        Ok(list
            .data
            .into_iter()
            .filter_map(|p| {
                let created_at = parse_time(p.created_time.as_deref()?)?;
                Some(RemotePost {
                    url: p.permalink_url.or_else(|| Some(self.post_url(&p.id))),
                    remote_id: p.id,
                    text: p.message.unwrap_or_default(),
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
        let token = ctx.access_token();
        let mut out = Vec::with_capacity(remote_ids.len());
        for ids in remote_ids.chunks(50) {
            let objects: serde_json::Map<String, Value> = self
                .graph
                .get(
                    "",
                    token,
                    &[
                        ("ids", ids.join(",")),
                        (
                            "fields",
                            "shares,reactions.summary(total_count).limit(0),\
                             comments.summary(total_count).limit(0)"
                                .into(),
                        ),
                    ],
                )
                .await?;
            for id in ids {
                let Some(object) = objects.get(id) else { continue };
                let insights = optional_insights(
                    self.graph
                        .get(
                            &format!("{id}/insights"),
                            token,
                            &[("metric", "post_impressions,post_clicks".into())],
                        )
                        .await,
                )?;
                out.push(PostMetrics {
                    remote_id: id.clone(),
                    impressions: insight(&insights, "post_impressions"),
                    likes: object.pointer("/reactions/summary/total_count").and_then(Value::as_i64),
                    reposts: Some(
                        object.pointer("/shares/count").and_then(Value::as_i64).unwrap_or(0),
                    ),
                    replies: object
                        .pointer("/comments/summary/total_count")
                        .and_then(Value::as_i64),
                    clicks: insight(&insights, "post_clicks"),
                });
            }
        }
        Ok(out)
    }

    async fn account_metrics(&self, ctx: &AccountContext) -> Result<AccountMetrics, PlatformError> {
        let page: Value = self
            .graph
            .get(
                &ctx.account_id,
                ctx.access_token(),
                &[("fields", "followers_count,fan_count".into())],
            )
            .await?;
        Ok(AccountMetrics {
            followers: page
                .get("followers_count")
                .or_else(|| page.get("fan_count"))
                .and_then(Value::as_i64),
            following: None,
            posts: None,
        })
    }

    async fn verify_account(&self, ctx: &AccountContext) -> Result<RemoteAccount, PlatformError> {
        let page: Value = self
            .graph
            .get(&ctx.account_id, ctx.access_token(), &[("fields", "id,name,username,link".into())])
            .await?;
        let text = |k: &str| page.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(RemoteAccount {
            id: text("id").unwrap_or_else(|| ctx.account_id.clone()),
            username: text("username"),
            display_name: text("name"),
            url: text("link"),
        })
    }

    fn oauth(&self) -> Option<&dyn OAuthProvider> {
        Some(&self.oauth)
    }
}
