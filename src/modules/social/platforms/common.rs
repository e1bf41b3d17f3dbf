//! Small steps every adapter's publish shares.

use std::time::Duration;

use bytes::Bytes;
use url::Url;

use super::{
    error::PlatformError,
    rules::PlatformRules,
    types::{CommentOutcome, MediaItem, Platform, PublishRequest, Published},
};

/// Publishing re-checks the rules offline: a post that cannot succeed fails before any media is
/// uploaded, so a rejected post leaves nothing behind on the platform.
pub(crate) fn reject_invalid(
    rules: &PlatformRules,
    post: &PublishRequest,
) -> Result<(), PlatformError> {
    let blocking: Vec<String> = rules
        .validate(&post.draft())
        .into_iter()
        .filter(|v| v.is_blocking())
        .map(|v| v.message)
        .collect();
    if blocking.is_empty() {
        Ok(())
    } else {
        Err(PlatformError::validation(rules.platform, blocking.join(" ")))
    }
}

pub(crate) fn require_bytes(
    platform: Platform,
    item: &MediaItem,
    index: usize,
) -> Result<&Bytes, PlatformError> {
    item.bytes.as_ref().ok_or_else(|| {
        PlatformError::media(
            platform,
            format!(
                "attachment {index} has no file contents; {} uploads the file itself",
                platform.name()
            ),
        )
    })
}

pub(crate) fn require_public_url(
    platform: Platform,
    item: &MediaItem,
    index: usize,
) -> Result<&Url, PlatformError> {
    item.public_url.as_ref().ok_or_else(|| {
        PlatformError::media(
            platform,
            format!(
                "attachment {index} has no public URL; {} downloads media from a public HTTPS URL",
                platform.name()
            ),
        )
    })
}

/// The post exists whatever happens to its comment, so a failure is reported, not raised.
pub(crate) fn comment_outcome(result: Result<Published, PlatformError>) -> CommentOutcome {
    match result {
        Ok(p) => CommentOutcome::Posted { remote_id: p.remote_id, url: p.url },
        Err(e) => {
            tracing::warn!(platform = %e.platform(), error = %e, "first comment failed");
            CommentOutcome::Failed(e)
        }
    }
}

/// Waits between polls of a platform's processing status.
pub(crate) async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
