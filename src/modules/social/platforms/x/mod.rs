//! X (API v2): posts via `POST /2/tweets`, media via `/2/media/upload`, OAuth 2.0 with PKCE.

mod errors;
mod media;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    adapter::{OAuthProvider, PlatformAdapter},
    common::{comment_outcome, reject_invalid},
    error::PlatformError,
    http::{Effect, Http, join, with_query},
    limits,
    oauth::{ClientAuth, OAuthClient, OAuthConfig},
    rules::{PlatformRules, RuleViolation},
    settings::XSettings,
    types::{
        AccountContext, AccountMetrics, Platform, PostDraft, PostMetrics, PublishRequest,
        Published, RemoteAccount, RemotePost,
    },
};

pub struct XAdapter {
    http: Http,
    settings: XSettings,
    rules: PlatformRules,
    oauth: OAuthClient,
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct ListData<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct Tweet {
    id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    public_metrics: Option<Value>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    public_metrics: Option<Value>,
}

impl XAdapter {
    pub fn new(
        client: reqwest::Client,
        settings: &XSettings,
        timeout: Duration,
        upload_timeout: Duration,
    ) -> Self {
        let http = Http::new(client, Platform::X, timeout, upload_timeout);
        let oauth = OAuthClient {
            http: http.clone(),
            config: OAuthConfig {
                client_id: settings.client_id.clone(),
                client_secret: settings.client_secret.clone(),
                authorize_url: settings.authorize_url.clone(),
                token_url: settings.token_url.clone(),
                scopes: settings.scopes.clone(),
                scope_separator: " ",
                pkce: true,
                client_auth: ClientAuth::Basic,
            },
        };
        XAdapter { http, settings: settings.clone(), rules: limits::x(), oauth }
    }

    async fn create_tweet(
        &self,
        ctx: &AccountContext,
        text: &str,
        media_ids: &[String],
        reply_to: Option<&str>,
    ) -> Result<Published, PlatformError> {
        let mut body = json!({});
        if !text.is_empty() {
            body["text"] = json!(text);
        }
        if !media_ids.is_empty() {
            body["media"] = json!({ "media_ids": media_ids });
        }
        if let Some(parent) = reply_to {
            body["reply"] = json!({ "in_reply_to_tweet_id": parent });
        }
        let request = self
            .http
            .client
            .post(join(&self.settings.api_base_url, "/2/tweets"))
            .bearer_auth(ctx.access_token())
            .json(&body);
        let created: Data<Created> =
            self.http.json(request, Effect::Create, errors::parse, &[ctx.access_token()]).await?;
        let id = created.data.id;
        Ok(Published { url: Some(self.permalink(ctx, &id)), remote_id: id, first_comment: None })
    }

    fn permalink(&self, ctx: &AccountContext, id: &str) -> String {
        match &ctx.handle {
            Some(handle) => join(&self.settings.web_url, &format!("{handle}/status/{id}")),
            None => join(&self.settings.web_url, &format!("i/web/status/{id}")),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        ctx: &AccountContext,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, PlatformError> {
        let request = self
            .http
            .client
            .get(with_query(&join(&self.settings.api_base_url, path), query))
            .bearer_auth(ctx.access_token());
        self.http.json(request, Effect::Read, errors::parse, &[ctx.access_token()]).await
    }
}

/// X returns post text with `&`, `<` and `>` as HTML entities; reconciliation compares the
/// text as it was written.
fn unescape_entities(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn metric(value: &Option<Value>, key: &str) -> Option<i64> {
    value.as_ref().and_then(|m| m.get(key)).and_then(Value::as_i64)
}

#[async_trait]
impl PlatformAdapter for XAdapter {
    fn platform(&self) -> Platform {
        Platform::X
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
        let mut media_ids = Vec::with_capacity(post.media.len());
        for (i, item) in post.media.iter().enumerate() {
            media_ids.push(self.upload(ctx, item, i).await?);
        }
        let mut published = self.create_tweet(ctx, &post.text, &media_ids, None).await?;
        if let Some(text) = &post.first_comment {
            let reply = self.create_tweet(ctx, text, &[], Some(&published.remote_id)).await;
            published.first_comment = Some(comment_outcome(reply));
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
        self.create_tweet(ctx, text, &[], Some(parent_remote_id)).await
    }

    async fn recent_posts(
        &self,
        ctx: &AccountContext,
        since: DateTime<Utc>,
    ) -> Result<Vec<RemotePost>, PlatformError> {
        let path = format!("/2/users/{}/tweets", ctx.account_id);
        let list: ListData<Tweet> = self
            .get(
                ctx,
                &path,
                &[
                    ("max_results", "100".into()),
                    ("start_time", since.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    ("tweet.fields", "created_at".into()),
                ],
            )
            .await?;
        Ok(list
            .data
            .into_iter()
            .filter_map(|t| {
                let created_at = t.created_at?;
                Some(RemotePost {
                    url: Some(self.permalink(ctx, &t.id)),
                    remote_id: t.id,
                    text: unescape_entities(&t.text),
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
        let mut out = Vec::with_capacity(remote_ids.len());
        // The lookup takes at most 100 ids per call.
        for ids in remote_ids.chunks(100) {
            let list: ListData<Tweet> = self
                .get(
                    ctx,
                    "/2/tweets",
                    &[("ids", ids.join(",")), ("tweet.fields", "public_metrics".into())],
                )
                .await?;
            out.extend(list.data.into_iter().map(|t| PostMetrics {
                impressions: metric(&t.public_metrics, "impression_count"),
                likes: metric(&t.public_metrics, "like_count"),
                reposts: metric(&t.public_metrics, "retweet_count"),
                replies: metric(&t.public_metrics, "reply_count"),
                clicks: None,
                remote_id: t.id,
            }));
        }
        Ok(out)
    }

    async fn account_metrics(&self, ctx: &AccountContext) -> Result<AccountMetrics, PlatformError> {
        let user: Data<User> =
            self.get(ctx, "/2/users/me", &[("user.fields", "public_metrics".into())]).await?;
        let m = &user.data.public_metrics;
        Ok(AccountMetrics {
            followers: metric(m, "followers_count"),
            following: metric(m, "following_count"),
            posts: metric(m, "tweet_count"),
        })
    }

    async fn verify_account(&self, ctx: &AccountContext) -> Result<RemoteAccount, PlatformError> {
        let user: Data<User> =
            self.get(ctx, "/2/users/me", &[("user.fields", "username,name".into())]).await?;
        let user = user.data;
        Ok(RemoteAccount {
            url: user.username.as_ref().map(|u| join(&self.settings.web_url, u)),
            id: user.id,
            username: user.username,
            display_name: user.name,
        })
    }

    fn oauth(&self) -> Option<&dyn OAuthProvider> {
        Some(&self.oauth)
    }
}
