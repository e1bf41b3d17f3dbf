//! Writing and reading `app.bsky.feed.post` records: blobs, facets, replies, and the replay of
//! a record already written by an earlier attempt.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BlueskyAdapter, POST_COLLECTION, errors::xrpc_error, facets, facets::Candidate};
use crate::modules::social::platforms::{
    error::PlatformError,
    http::{Effect, join},
    types::{AccountContext, Published},
};

/// A record reference (`com.atproto.repo.strongRef`).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct StrongRef {
    pub uri: String,
    pub cid: String,
}

impl BlueskyAdapter {
    pub(super) async fn upload_blob(
        &self,
        ctx: &AccountContext,
        bytes: &bytes::Bytes,
        mime: &str,
    ) -> Result<Value, PlatformError> {
        #[derive(Deserialize)]
        struct Uploaded {
            blob: Value,
        }
        let request = self
            .http
            .client
            .post(self.xrpc(self.pds(ctx), "com.atproto.repo.uploadBlob"))
            .bearer_auth(ctx.access_token())
            .header("content-type", mime)
            .body(bytes.clone());
        let uploaded: Uploaded =
            self.http.json(request, Effect::Upload, xrpc_error, &[ctx.access_token()]).await?;
        Ok(uploaded.blob)
    }

    /// Facets for `text`; mentions whose handle does not resolve stay plain text.
    async fn facets(&self, ctx: &AccountContext, text: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for candidate in facets::detect(text) {
            match candidate {
                Candidate::Link { start, end, uri } => {
                    out.push(facets::link_facet(start, end, &uri))
                }
                Candidate::Tag { start, end, tag } => out.push(facets::tag_facet(start, end, &tag)),
                Candidate::Mention { start, end, handle } => {
                    #[derive(Deserialize)]
                    struct Resolved {
                        did: String,
                    }
                    let resolved: Result<Resolved, _> = self
                        .get(
                            ctx,
                            "com.atproto.identity.resolveHandle",
                            &[("handle", handle.clone())],
                        )
                        .await;
                    match resolved {
                        Ok(r) => out.push(facets::mention_facet(start, end, &r.did)),
                        Err(e) => tracing::debug!(%handle, error = %e, "mention not resolved"),
                    }
                }
            }
        }
        out
    }

    /// Writes one post record. With a deterministic record key, a retry that finds the record
    /// already written returns it instead of failing.
    pub(super) async fn create_post(
        &self,
        ctx: &AccountContext,
        record: Value,
        rkey: Option<String>,
    ) -> Result<StrongRef, PlatformError> {
        let text = record.get("text").cloned();
        let mut body =
            json!({ "repo": ctx.account_id, "collection": POST_COLLECTION, "record": record });
        if let Some(rkey) = &rkey {
            body["rkey"] = json!(rkey);
        }
        let request = self
            .http
            .client
            .post(self.xrpc(self.pds(ctx), "com.atproto.repo.createRecord"))
            .bearer_auth(ctx.access_token())
            .json(&body);
        let result: Result<StrongRef, _> =
            self.http.json(request, Effect::Create, xrpc_error, &[ctx.access_token()]).await;
        match (result, rkey) {
            (
                Err(e @ (PlatformError::Validation { .. } | PlatformError::Duplicate { .. })),
                Some(rkey),
            ) => match self.get_post(ctx, &rkey).await {
                Ok(Some((existing, value))) if value.get("text") == text.as_ref() => Ok(existing),
                _ => Err(e),
            },
            (result, _) => result,
        }
    }

    pub(super) async fn get_post(
        &self,
        ctx: &AccountContext,
        rkey: &str,
    ) -> Result<Option<(StrongRef, Value)>, PlatformError> {
        #[derive(Deserialize)]
        struct Record {
            uri: String,
            #[serde(default)]
            cid: Option<String>,
            value: Value,
        }
        let params = [
            ("repo", ctx.account_id.clone()),
            ("collection", POST_COLLECTION.to_string()),
            ("rkey", rkey.to_string()),
        ];
        match self.get::<Record>(ctx, "com.atproto.repo.getRecord", &params).await {
            Ok(r) => Ok(r.cid.map(|cid| (StrongRef { uri: r.uri, cid }, r.value))),
            Err(PlatformError::Validation { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn reply_to(
        &self,
        ctx: &AccountContext,
        parent: StrongRef,
        root: Option<StrongRef>,
        text: &str,
        rkey: Option<String>,
    ) -> Result<Published, PlatformError> {
        let mut record = self.record(ctx, text, Utc::now()).await;
        let root = root.unwrap_or_else(|| parent.clone());
        record["reply"] = json!({
            "root": { "uri": root.uri, "cid": root.cid },
            "parent": { "uri": parent.uri, "cid": parent.cid },
        });
        let created = self.create_post(ctx, record, rkey).await?;
        Ok(self.published(created))
    }

    pub(super) async fn record(
        &self,
        ctx: &AccountContext,
        text: &str,
        created_at: DateTime<Utc>,
    ) -> Value {
        let mut record = json!({
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        });
        let facets = self.facets(ctx, text).await;
        if !facets.is_empty() {
            record["facets"] = Value::Array(facets);
        }
        record
    }

    pub(super) fn published(&self, created: StrongRef) -> Published {
        Published { url: self.web_url(&created.uri), remote_id: created.uri, first_comment: None }
    }

    /// `at://did/app.bsky.feed.post/rkey` → `https://bsky.app/profile/did/post/rkey`.
    pub(super) fn web_url(&self, at_uri: &str) -> Option<String> {
        let rest = at_uri.strip_prefix("at://")?;
        let mut parts = rest.split('/');
        let (did, _, rkey) = (parts.next()?, parts.next()?, parts.next()?);
        Some(join(&self.settings.web_url, &format!("profile/{did}/post/{rkey}")))
    }
}
