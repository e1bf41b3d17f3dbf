//! LinkedIn media: images through `/rest/images?action=initializeUpload` and one PUT; videos
//! through `/rest/videos?action=initializeUpload`, a PUT per part (collecting ETags) and
//! `finalizeUpload`, then waiting until the video is `AVAILABLE`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{LinkedInAdapter, errors};
use crate::modules::social::platforms::{
    common::{pause, require_bytes},
    error::PlatformError,
    http::{Effect, encode},
    types::{AccountContext, MediaItem, MediaKind},
};

#[derive(Deserialize)]
struct Value<T> {
    value: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageUpload {
    upload_url: String,
    image: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VideoUpload {
    video: String,
    #[serde(default)]
    upload_token: String,
    upload_instructions: Vec<Instruction>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instruction {
    upload_url: String,
    first_byte: u64,
    last_byte: u64,
}

#[derive(Deserialize)]
struct VideoStatus {
    #[serde(default)]
    status: String,
}

impl LinkedInAdapter {
    /// Uploads one attachment and returns its URN (`urn:li:image:…` / `urn:li:video:…`).
    pub(super) async fn upload(
        &self,
        ctx: &AccountContext,
        item: &MediaItem,
        index: usize,
    ) -> Result<String, PlatformError> {
        if item.info.kind() == MediaKind::Video {
            self.upload_video(ctx, item, index).await
        } else {
            self.upload_image(ctx, item, index).await
        }
    }

    async fn upload_image(
        &self,
        ctx: &AccountContext,
        item: &MediaItem,
        index: usize,
    ) -> Result<String, PlatformError> {
        let bytes = require_bytes(self.http.platform, item, index)?;
        let body = json!({ "initializeUploadRequest": { "owner": ctx.account_id } });
        let request =
            self.rest(ctx, Method::POST, "/rest/images?action=initializeUpload").json(&body);
        let init: Value<ImageUpload> =
            self.http.json(request, Effect::Upload, errors::parse, &[ctx.access_token()]).await?;
        let put = self
            .http
            .client
            .put(&init.value.upload_url)
            .bearer_auth(ctx.access_token())
            .header("content-type", item.info.essence())
            .body(bytes.clone());
        self.http.send(put, Effect::Upload, errors::parse, &[ctx.access_token()]).await?;
        Ok(init.value.image)
    }

    async fn upload_video(
        &self,
        ctx: &AccountContext,
        item: &MediaItem,
        index: usize,
    ) -> Result<String, PlatformError> {
        let bytes = require_bytes(self.http.platform, item, index)?;
        let body = json!({
            "initializeUploadRequest": {
                "owner": ctx.account_id,
                "fileSizeBytes": bytes.len(),
                "uploadCaptions": false,
                "uploadThumbnail": false,
            }
        });
        let request =
            self.rest(ctx, Method::POST, "/rest/videos?action=initializeUpload").json(&body);
        let init: Value<VideoUpload> =
            self.http.json(request, Effect::Upload, errors::parse, &[ctx.access_token()]).await?;
        let init = init.value;

        let mut etags = Vec::with_capacity(init.upload_instructions.len());
        for part in &init.upload_instructions {
            let (first, last) = (part.first_byte as usize, part.last_byte as usize);
            let Some(chunk) = bytes.get(first..=last) else {
                return Err(PlatformError::media(
                    self.http.platform,
                    format!(
                        "LinkedIn asked for bytes {first}–{last} of a {}-byte file",
                        bytes.len()
                    ),
                ));
            };
            let put = self
                .http
                .client
                .put(&part.upload_url)
                .bearer_auth(ctx.access_token())
                .header("content-type", "application/octet-stream")
                .body(bytes.slice_ref(chunk));
            let reply =
                self.http.send(put, Effect::Upload, errors::parse, &[ctx.access_token()]).await?;
            let etag = reply
                .header("etag")
                .ok_or_else(|| self.http.missing(Effect::Upload, "the uploaded part's ETag"))?;
            etags.push(etag.to_string());
        }

        let body = json!({
            "finalizeUploadRequest": {
                "video": init.video,
                "uploadToken": init.upload_token,
                "uploadedPartIds": etags,
            }
        });
        let request =
            self.rest(ctx, Method::POST, "/rest/videos?action=finalizeUpload").json(&body);
        self.http.send(request, Effect::Upload, errors::parse, &[ctx.access_token()]).await?;
        self.wait_available(ctx, &init.video).await?;
        Ok(init.video)
    }

    async fn wait_available(&self, ctx: &AccountContext, video: &str) -> Result<(), PlatformError> {
        let attempts = self.settings.media_poll_attempts.max(1);
        for attempt in 0..attempts {
            let path = format!("/rest/videos/{}", encode(video));
            let request = self.rest(ctx, Method::GET, &path);
            let status: VideoStatus =
                self.http.json(request, Effect::Read, errors::parse, &[ctx.access_token()]).await?;
            match status.status.as_str() {
                "AVAILABLE" => return Ok(()),
                "PROCESSING_FAILED" => {
                    return Err(PlatformError::media(
                        self.http.platform,
                        "LinkedIn could not process the video",
                    ));
                }
                _ => {}
            }
            if attempt + 1 < attempts {
                pause(self.settings.media_poll_interval_ms).await;
            }
        }
        Err(PlatformError::transient(
            self.http.platform,
            "LinkedIn is still processing the video; the post will be tried again",
        ))
    }
}
