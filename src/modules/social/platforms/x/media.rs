//! X media upload (API v2): images in one `POST /2/media/upload`, videos, GIFs and large files
//! through initialize → append (chunks) → finalize, then status polling until processed.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;
use serde_json::json;

use super::{XAdapter, errors};
use crate::modules::social::platforms::{
    common::{pause, require_bytes},
    error::PlatformError,
    http::{Effect, join, with_query},
    types::{AccountContext, MediaItem, MediaKind},
};

#[derive(Deserialize)]
struct Envelope {
    data: MediaData,
}

#[derive(Deserialize)]
struct MediaData {
    id: String,
    #[serde(default)]
    processing_info: Option<ProcessingInfo>,
}

#[derive(Deserialize)]
struct ProcessingInfo {
    state: String,
    #[serde(default)]
    error: Option<ProcessingError>,
}

#[derive(Deserialize)]
struct ProcessingError {
    #[serde(default)]
    message: Option<String>,
}

impl XAdapter {
    /// Uploads one attachment and returns its media id.
    pub(super) async fn upload(
        &self,
        ctx: &AccountContext,
        item: &MediaItem,
        index: usize,
    ) -> Result<String, PlatformError> {
        let bytes = require_bytes(self.http.platform, item, index)?;
        let mime = item.info.essence();
        let kind = item.info.kind();
        let category = match kind {
            MediaKind::Video => "tweet_video",
            MediaKind::Gif => "tweet_gif",
            _ => "tweet_image",
        };
        let chunk = self.settings.media_chunk_bytes.max(1);
        let data = if kind == MediaKind::Image && bytes.len() <= chunk {
            let body = json!({
                "media": STANDARD.encode(bytes),
                "media_category": category,
                "media_type": mime,
            });
            self.media_call(ctx, self.http.client.post(self.url("/2/media/upload")).json(&body))
                .await?
        } else {
            let init = json!({
                "media_type": mime,
                "total_bytes": bytes.len(),
                "media_category": category,
            });
            let id = self
                .media_call(
                    ctx,
                    self.http.client.post(self.url("/2/media/upload/initialize")).json(&init),
                )
                .await?
                .id;
            for (segment, part) in bytes.chunks(chunk).enumerate() {
                let body = json!({ "media": STANDARD.encode(part), "segment_index": segment });
                let url = self.url(&format!("/2/media/upload/{id}/append"));
                self.http
                    .send(
                        self.http.client.post(url).bearer_auth(ctx.access_token()).json(&body),
                        Effect::Upload,
                        errors::parse,
                        &[ctx.access_token()],
                    )
                    .await?;
            }
            let url = self.url(&format!("/2/media/upload/{id}/finalize"));
            self.media_call(ctx, self.http.client.post(url)).await?
        };
        self.wait_processed(ctx, &data).await?;
        if let Some(alt) = item.info.alt_text.as_deref().filter(|a| !a.trim().is_empty()) {
            let body = json!({ "id": data.id, "metadata": { "alt_text": { "text": alt } } });
            self.http
                .send(
                    self.http
                        .client
                        .post(self.url("/2/media/metadata"))
                        .bearer_auth(ctx.access_token())
                        .json(&body),
                    Effect::Upload,
                    errors::parse,
                    &[ctx.access_token()],
                )
                .await?;
        }
        Ok(data.id)
    }

    async fn media_call(
        &self,
        ctx: &AccountContext,
        request: reqwest::RequestBuilder,
    ) -> Result<MediaData, PlatformError> {
        let envelope: Envelope = self
            .http
            .json(
                request.bearer_auth(ctx.access_token()),
                Effect::Upload,
                errors::parse,
                &[ctx.access_token()],
            )
            .await?;
        Ok(envelope.data)
    }

    /// Videos and GIFs are processed after upload; attaching them before that fails.
    async fn wait_processed(
        &self,
        ctx: &AccountContext,
        data: &MediaData,
    ) -> Result<(), PlatformError> {
        let mut info = data.processing_info.as_ref().map(|p| (p.state.clone(), error_of(p)));
        for _ in 0..self.settings.media_poll_attempts {
            match &info {
                None => return Ok(()),
                Some((state, _)) if state == "succeeded" => return Ok(()),
                Some((state, message)) if state == "failed" => {
                    return Err(PlatformError::media(
                        self.http.platform,
                        message.clone().unwrap_or_else(|| "X could not process the media".into()),
                    ));
                }
                Some(_) => {}
            }
            pause(self.settings.media_poll_interval_ms).await;
            let url = with_query(
                &self.url("/2/media/upload"),
                &[("command", "STATUS"), ("media_id", data.id.as_str())],
            );
            let request = self.http.client.get(url);
            let status = self.media_call(ctx, request).await?;
            info = status.processing_info.as_ref().map(|p| (p.state.clone(), error_of(p)));
        }
        match info {
            None => Ok(()),
            Some((state, _)) if state == "succeeded" => Ok(()),
            _ => Err(PlatformError::transient(
                self.http.platform,
                "X is still processing the media; the post will be tried again later",
            )),
        }
    }

    fn url(&self, path: &str) -> String {
        join(&self.settings.api_base_url, path)
    }
}

fn error_of(p: &ProcessingInfo) -> Option<String> {
    p.error.as_ref().and_then(|e| e.message.clone())
}
