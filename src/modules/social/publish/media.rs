//! A post's attachments as the adapters take them: the bytes from object storage for
//! platforms that upload, a signed public link for those that fetch media themselves.

use url::Url;
use uuid::Uuid;

use crate::{
    modules::social::{
        platforms::{MediaInfo, MediaItem, Platform},
        posts::MediaRef,
    },
    platform::uploads,
    state::AppState,
};

pub async fn items(
    state: &AppState,
    workspace: Uuid,
    refs: &[MediaRef],
    platform: Platform,
) -> anyhow::Result<Vec<MediaItem>> {
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let upload = uploads::find(state, workspace, r.upload_id)
            .await
            .map_err(|e| anyhow::anyhow!("attachment {} is gone: {e}", r.upload_id))?;
        let mut info = MediaInfo::new(upload.content_type.clone(), upload.size_bytes.max(0) as u64);
        if let (Some(w), Some(h)) = (upload.width, upload.height) {
            info = info.with_dimensions(w.max(0) as u32, h.max(0) as u32);
        }
        if let Some(alt) = r.alt_text.as_ref().filter(|a| !a.trim().is_empty()) {
            info = info.with_alt_text(alt.clone());
        }
        let public_url = upload.url.as_deref().and_then(|u| Url::parse(u).ok());
        // Instagram only fetches; everyone else gets the bytes (Facebook prefers the link).
        let bytes = if platform == Platform::Instagram {
            None
        } else {
            Some(state.storage.get(&upload.storage_key).await.map_err(|e| anyhow::anyhow!("{e}"))?)
        };
        out.push(MediaItem { info, bytes, public_url });
    }
    Ok(out)
}
