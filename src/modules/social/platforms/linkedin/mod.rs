//! LinkedIn (Posts API, `/rest/posts`) for members (`urn:li:person:…`) and organization pages
//! (`urn:li:organization:…`). Every `/rest` call carries `LinkedIn-Version` and
//! `X-Restli-Protocol-Version: 2.0.0`.

mod errors;
mod little_text;
mod media;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    adapter::{OAuthProvider, PlatformAdapter},
    common::{comment_outcome, reject_invalid},
    error::PlatformError,
    http::{Effect, Http, encode, join},
    limits,
    oauth::{ClientAuth, OAuthClient, OAuthConfig},
    rules::{PlatformRules, RuleViolation},
    settings::LinkedInSettings,
    types::{
        AccountContext, AccountMetrics, MediaKind, Platform, PostDraft, PostMetrics,
        PublishRequest, Published, RemoteAccount, RemotePost,
    },
};

pub struct LinkedInAdapter {
    http: Http,
    settings: LinkedInSettings,
    rules: PlatformRules,
    oauth: OAuthClient,
}

#[derive(Deserialize)]
struct Elements<T> {
    #[serde(default = "Vec::new")]
    elements: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Post {
    id: String,
    #[serde(default)]
    commentary: String,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    published_at: Option<i64>,
}

impl LinkedInAdapter {
    pub fn new(
        client: reqwest::Client,
        settings: &LinkedInSettings,
        timeout: Duration,
        upload_timeout: Duration,
    ) -> Self {
        let http = Http::new(client, Platform::LinkedIn, timeout, upload_timeout);
        let oauth = OAuthClient {
            http: http.clone(),
            config: OAuthConfig {
                client_id: settings.client_id.clone(),
                client_secret: settings.client_secret.clone(),
                authorize_url: settings.authorize_url.clone(),
                token_url: settings.token_url.clone(),
                scopes: settings.scopes.clone(),
                scope_separator: " ",
                pkce: settings.pkce,
                client_auth: ClientAuth::Body,
            },
        };
        LinkedInAdapter { http, settings: settings.clone(), rules: limits::linkedin(), oauth }
    }

    fn rest(&self, ctx: &AccountContext, method: Method, path_and_query: &str) -> RequestBuilder {
        self.http
            .client
            .request(method, join(&self.settings.api_base_url, path_and_query))
            .bearer_auth(ctx.access_token())
            .header("LinkedIn-Version", &self.settings.version)
            .header("X-Restli-Protocol-Version", "2.0.0")
    }

    fn post_url(&self, urn: &str) -> String {
        join(&self.settings.web_url, &format!("feed/update/{urn}/"))
    }

    fn is_organization(ctx: &AccountContext) -> bool {
        ctx.account_id.starts_with("urn:li:organization:")
    }

    /// Organizations the token's member administers, as URNs, for linking company pages.
    pub async fn list_organizations(
        &self,
        ctx: &AccountContext,
    ) -> Result<Vec<String>, PlatformError> {
        #[derive(Deserialize)]
        struct Acl {
            organization: String,
        }
        let request = self.rest(
            ctx,
            Method::GET,
            "/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED",
        );
        let acls: Elements<Acl> =
            self.http.json(request, Effect::Read, errors::parse, &[ctx.access_token()]).await?;
        Ok(acls.elements.into_iter().map(|a| a.organization).collect())
    }

    async fn post_comment(
        &self,
        ctx: &AccountContext,
        parent: &str,
        text: &str,
    ) -> Result<Published, PlatformError> {
        let body = json!({
            "actor": ctx.account_id,
            "object": parent,
            "message": { "text": text },
        });
        let path = format!("/rest/socialActions/{}/comments", encode(parent));
        let request = self.rest(ctx, Method::POST, &path).json(&body);
        let reply =
            self.http.send(request, Effect::Create, errors::parse, &[ctx.access_token()]).await?;
        let from_body = serde_json::from_slice::<Value>(&reply.body).ok().and_then(|v| {
            v.get("id").or_else(|| v.get("$URN")).and_then(Value::as_str).map(str::to_string)
        });
        let id = reply
            .header("x-restli-id")
            .map(str::to_string)
            .or(from_body)
            .ok_or_else(|| self.http.missing(Effect::Create, "the comment id"))?;
        Ok(Published { remote_id: id, url: None, first_comment: None })
    }

    /// Impressions, clicks and shares for organization posts (members have no such API).
    async fn organization_stats(
        &self,
        ctx: &AccountContext,
        ids: &[String],
    ) -> Result<Vec<Value>, PlatformError> {
        let list = |prefix: &str| {
            ids.iter()
                .filter(|id| id.starts_with(prefix))
                .map(|id| encode(id))
                .collect::<Vec<_>>()
                .join(",")
        };
        // Rest.li 2.0 lists: `List(a,b)` with the parentheses and commas left unencoded.
        let mut path = format!(
            "/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity={}",
            encode(&ctx.account_id)
        );
        for (param, prefix) in [("shares", "urn:li:share:"), ("ugcPosts", "urn:li:ugcPost:")] {
            let items = list(prefix);
            if !items.is_empty() {
                path.push_str(&format!("&{param}=List({items})"));
            }
        }
        let request = self.rest(ctx, Method::GET, &path);
        let stats: Elements<Value> =
            self.http.json(request, Effect::Read, errors::parse, &[ctx.access_token()]).await?;
        Ok(stats.elements)
    }
}

#[async_trait]
impl PlatformAdapter for LinkedInAdapter {
    fn platform(&self) -> Platform {
        Platform::LinkedIn
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
        let mut media = Vec::with_capacity(post.media.len());
        for (i, item) in post.media.iter().enumerate() {
            let alt = item.info.alt_text.clone().unwrap_or_default();
            media.push((self.upload(ctx, item, i).await?, alt, item.info.kind()));
        }
        let mut body = json!({
            "author": ctx.account_id,
            "commentary": little_text::escape(&post.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false,
        });
        match media.as_slice() {
            [] => {}
            [(id, _, MediaKind::Video)] => body["content"] = json!({ "media": { "id": id } }),
            [(id, alt, _)] => body["content"] = json!({ "media": { "id": id, "altText": alt } }),
            many => {
                let images: Vec<Value> =
                    many.iter().map(|(id, alt, _)| json!({ "id": id, "altText": alt })).collect();
                body["content"] = json!({ "multiImage": { "images": images } });
            }
        }
        let request = self.rest(ctx, Method::POST, "/rest/posts").json(&body);
        let reply =
            self.http.send(request, Effect::Create, errors::parse, &[ctx.access_token()]).await?;
        // 201 Created with the URN in a header; without it we cannot know which post it was.
        let urn = reply
            .header("x-restli-id")
            .map(str::to_string)
            .ok_or_else(|| self.http.missing(Effect::Create, "the post id (x-restli-id)"))?;
        let mut published =
            Published { url: Some(self.post_url(&urn)), remote_id: urn, first_comment: None };
        if let Some(text) = &post.first_comment {
            let result = self.post_comment(ctx, &published.remote_id, text).await;
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
        self.post_comment(ctx, parent_remote_id, text).await
    }

    /// Organizations need `r_organization_social`; members need `r_member_social`, which
    /// LinkedIn grants only to approved partners. Without it LinkedIn answers 403
    /// (`Permission`) although publishing works: the publisher treats that as "cannot
    /// reconcile", never as a broken account.
    async fn recent_posts(
        &self,
        ctx: &AccountContext,
        since: DateTime<Utc>,
    ) -> Result<Vec<RemotePost>, PlatformError> {
        let path = format!(
            "/rest/posts?author={}&q=author&count=50&sortBy=LAST_MODIFIED",
            encode(&ctx.account_id)
        );
        let request = self.rest(ctx, Method::GET, &path).header("X-RestLi-Method", "FINDER");
        let posts: Elements<Post> =
            self.http.json(request, Effect::Read, errors::parse, &[ctx.access_token()]).await?;
        Ok(posts
            .elements
            .into_iter()
            .filter_map(|p| {
                let created_at = DateTime::from_timestamp_millis(p.published_at.or(p.created_at)?)?;
                (created_at >= since).then(|| RemotePost {
                    url: Some(self.post_url(&p.id)),
                    remote_id: p.id,
                    text: little_text::unescape(&p.commentary),
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
        let stats = if Self::is_organization(ctx) && !remote_ids.is_empty() {
            self.organization_stats(ctx, remote_ids).await?
        } else {
            Vec::new()
        };
        let mut out = Vec::with_capacity(remote_ids.len());
        for id in remote_ids {
            let org = stats.iter().find(|s| {
                s.get("share").or_else(|| s.get("ugcPost")).and_then(Value::as_str) == Some(id)
            });
            let total = |key: &str| {
                org.and_then(|s| s.pointer(&format!("/totalShareStatistics/{key}")))
                    .and_then(Value::as_i64)
            };
            let request =
                self.rest(ctx, Method::GET, &format!("/rest/socialActions/{}", encode(id)));
            let social: Value =
                self.http.json(request, Effect::Read, errors::parse, &[ctx.access_token()]).await?;
            out.push(PostMetrics {
                remote_id: id.clone(),
                impressions: total("impressionCount"),
                likes: social.pointer("/likesSummary/totalLikes").and_then(Value::as_i64),
                reposts: total("shareCount"),
                replies: social
                    .pointer("/commentsSummary/aggregatedTotalComments")
                    .and_then(Value::as_i64),
                clicks: total("clickCount"),
            });
        }
        Ok(out)
    }

    async fn account_metrics(&self, ctx: &AccountContext) -> Result<AccountMetrics, PlatformError> {
        if !Self::is_organization(ctx) {
            // LinkedIn offers member follower counts only to partner programs.
            return Ok(AccountMetrics::default());
        }
        let path = format!(
            "/rest/networkSizes/{}?edgeType=COMPANY_FOLLOWED_BY_MEMBER",
            encode(&ctx.account_id)
        );
        let size: Value = self
            .http
            .json(
                self.rest(ctx, Method::GET, &path),
                Effect::Read,
                errors::parse,
                &[ctx.access_token()],
            )
            .await?;
        Ok(AccountMetrics {
            followers: size.get("firstDegreeSize").and_then(Value::as_i64),
            following: None,
            posts: None,
        })
    }

    async fn verify_account(&self, ctx: &AccountContext) -> Result<RemoteAccount, PlatformError> {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        if let Some(org_id) = ctx.account_id.strip_prefix("urn:li:organization:") {
            let request = self.rest(ctx, Method::GET, &format!("/rest/organizations/{org_id}"));
            let org: Value =
                self.http.json(request, Effect::Read, errors::parse, &[ctx.access_token()]).await?;
            return Ok(RemoteAccount {
                id: ctx.account_id.clone(),
                url: text(&org, "vanityName")
                    .map(|v| join(&self.settings.web_url, &format!("company/{v}/"))),
                username: text(&org, "vanityName"),
                display_name: text(&org, "localizedName"),
            });
        }
        // OpenID Connect userinfo: `sub` is the member id.
        let request = self.rest(ctx, Method::GET, "/v2/userinfo");
        let me: Value =
            self.http.json(request, Effect::Read, errors::parse, &[ctx.access_token()]).await?;
        let sub =
            text(&me, "sub").ok_or_else(|| self.http.missing(Effect::Read, "the member id"))?;
        Ok(RemoteAccount {
            id: format!("urn:li:person:{sub}"),
            username: None,
            display_name: text(&me, "name"),
            url: None,
        })
    }

    fn remote_url(&self, _ctx: &AccountContext, remote_id: &str) -> Option<String> {
        Some(self.post_url(remote_id))
    }

    fn oauth(&self) -> Option<&dyn OAuthProvider> {
        Some(&self.oauth)
    }
}
