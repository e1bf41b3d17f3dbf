//! A post's attachments as the adapters take them: the bytes from object storage for
//! platforms that upload, a signed public link for those that fetch media themselves.

use url::Url;
use uuid::Uuid;

use crate::{
    modules::social::{
        platforms::{MediaItem, Platform},
        posts::{MediaRef, rules::media_info},
    },
    platform::uploads,
    state::AppState,
};

/// Why an attachment could not be loaded.
pub enum Missing {
    /// The upload was deleted since the post was scheduled: only a person can fix that.
    Deleted(Uuid),
    /// The database or object storage failed: may work on the next try.
    Unavailable(anyhow::Error),
}

pub async fn items(
    state: &AppState,
    workspace: Uuid,
    refs: &[MediaRef],
    platform: Platform,
) -> Result<Vec<MediaItem>, Missing> {
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let upload = match uploads::find(state, workspace, r.upload_id).await {
            Ok(u) => u,
            Err(crate::error::AppError::NotFound(_)) => return Err(Missing::Deleted(r.upload_id)),
            Err(e) => return Err(Missing::Unavailable(anyhow::anyhow!("{e}"))),
        };
        // The same description of the file the rules were checked with when scheduling.
        let info = media_info(&upload, r.alt_text.as_deref());
        let public_url = upload.url.as_deref().and_then(|u| Url::parse(u).ok());
        // Instagram only fetches; everyone else gets the bytes (Facebook prefers the link).
        let bytes = if platform == Platform::Instagram {
            None
        } else {
            Some(
                state
                    .storage
                    .get(&upload.storage_key)
                    .await
                    .map_err(|e| Missing::Unavailable(anyhow::anyhow!("{e}")))?,
            )
        };
        out.push(MediaItem { info, bytes, public_url });
    }
    Ok(out)
}
