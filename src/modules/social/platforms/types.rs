//! The values exchanged with the adapters: drafts, publish requests and what platforms answer.

use std::{fmt, str::FromStr};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::PlatformError;

/// The social networks SmartFlow publishes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    X,
    Facebook,
    Instagram,
    LinkedIn,
    Bluesky,
    Mastodon,
}

impl Platform {
    pub const ALL: [Platform; 6] = [
        Platform::X,
        Platform::Facebook,
        Platform::Instagram,
        Platform::LinkedIn,
        Platform::Bluesky,
        Platform::Mastodon,
    ];

    /// The stable identifier used in settings, URLs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::X => "x",
            Platform::Facebook => "facebook",
            Platform::Instagram => "instagram",
            Platform::LinkedIn => "linkedin",
            Platform::Bluesky => "bluesky",
            Platform::Mastodon => "mastodon",
        }
    }

    /// The name shown to people.
    pub fn name(self) -> &'static str {
        match self {
            Platform::X => "X",
            Platform::Facebook => "Facebook",
            Platform::Instagram => "Instagram",
            Platform::LinkedIn => "LinkedIn",
            Platform::Bluesky => "Bluesky",
            Platform::Mastodon => "Mastodon",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform `{0}`: expected x, facebook, instagram, linkedin, bluesky or mastodon")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            // Old links and imports still say twitter.
            "x" | "twitter" => Ok(Platform::X),
            "facebook" => Ok(Platform::Facebook),
            "instagram" => Ok(Platform::Instagram),
            "linkedin" => Ok(Platform::LinkedIn),
            "bluesky" => Ok(Platform::Bluesky),
            "mastodon" => Ok(Platform::Mastodon),
            _ => Err(UnknownPlatform(s.to_string())),
        }
    }
}

/// What kind of file an attachment is, as far as platform rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    /// Animated GIFs have their own limits on several platforms.
    Gif,
    Video,
    Other,
}

/// What is known about an attachment without reading it: enough to check platform rules when a
/// post is scheduled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// e.g. `image/jpeg`, `video/mp4`.
    pub mime_type: String,
    pub size_bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Videos only.
    pub duration_ms: Option<u64>,
    /// Description for screen readers.
    pub alt_text: Option<String>,
}

impl MediaInfo {
    pub fn new(mime_type: impl Into<String>, size_bytes: u64) -> Self {
        MediaInfo {
            mime_type: mime_type.into(),
            size_bytes,
            width: None,
            height: None,
            duration_ms: None,
            alt_text: None,
        }
    }

    pub fn with_dimensions(mut self, width: u32, height: u32) -> Self {
        self.width = Some(width);
        self.height = Some(height);
        self
    }

    pub fn with_duration_ms(mut self, duration_ms: u64) -> Self {
        self.duration_ms = Some(duration_ms);
        self
    }

    pub fn with_alt_text(mut self, alt: impl Into<String>) -> Self {
        self.alt_text = Some(alt.into());
        self
    }

    /// The mime type without parameters, lowercased.
    pub fn essence(&self) -> String {
        self.mime_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
    }

    pub fn kind(&self) -> MediaKind {
        let essence = self.essence();
        if essence == "image/gif" {
            MediaKind::Gif
        } else if essence.starts_with("image/") {
            MediaKind::Image
        } else if essence.starts_with("video/") {
            MediaKind::Video
        } else {
            MediaKind::Other
        }
    }

    /// Width divided by height, when both are known and non-zero.
    pub fn aspect_ratio(&self) -> Option<f64> {
        match (self.width, self.height) {
            (Some(w), Some(h)) if w > 0 && h > 0 => Some(f64::from(w) / f64::from(h)),
            _ => None,
        }
    }
}

/// A post as it is being scheduled: checked against every target platform's rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostDraft {
    pub text: String,
    pub media: Vec<MediaInfo>,
    /// Posted right after the post: an X/Bluesky/Mastodon reply, a Facebook/Instagram/LinkedIn
    /// comment.
    pub first_comment: Option<String>,
}

/// One attachment to upload. Instagram fetches media itself and needs `public_url`; X, LinkedIn,
/// Bluesky and Mastodon upload `bytes`; Facebook takes either (the URL is preferred).
#[derive(Clone)]
pub struct MediaItem {
    pub info: MediaInfo,
    pub bytes: Option<Bytes>,
    pub public_url: Option<Url>,
}

impl MediaItem {
    pub fn from_bytes(info: MediaInfo, bytes: impl Into<Bytes>) -> Self {
        MediaItem { info, bytes: Some(bytes.into()), public_url: None }
    }

    pub fn from_url(info: MediaInfo, url: Url) -> Self {
        MediaItem { info, bytes: None, public_url: Some(url) }
    }

    pub fn with_public_url(mut self, url: Url) -> Self {
        self.public_url = Some(url);
        self
    }
}

/// File contents stay out of logs.
impl fmt::Debug for MediaItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaItem")
            .field("info", &self.info)
            .field("bytes", &self.bytes.as_ref().map(|b| format!("{} bytes", b.len())))
            .field("public_url", &self.public_url.as_ref().map(Url::as_str))
            .finish()
    }
}

/// What the publisher hands an adapter when a scheduled post is due.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub text: String,
    pub media: Vec<MediaItem>,
    pub first_comment: Option<String>,
    /// Stable for every attempt at the same post (e.g. the ledger row id). Sent where the
    /// platform deduplicates on it (Mastodon `Idempotency-Key`, Bluesky record key).
    pub idempotency_key: String,
    /// The post's own timestamp (Bluesky `createdAt`). Pass the same value on every attempt:
    /// together with the idempotency key it makes Bluesky retries land on the same record.
    pub created_at: Option<DateTime<Utc>>,
}

impl PublishRequest {
    pub fn new(text: impl Into<String>, idempotency_key: impl Into<String>) -> Self {
        PublishRequest {
            text: text.into(),
            media: Vec::new(),
            first_comment: None,
            idempotency_key: idempotency_key.into(),
            created_at: None,
        }
    }

    /// The rule-checkable part of the request.
    pub fn draft(&self) -> PostDraft {
        PostDraft {
            text: self.text.clone(),
            media: self.media.iter().map(|m| m.info.clone()).collect(),
            first_comment: self.first_comment.clone(),
        }
    }
}

/// A post that now exists on the platform.
#[derive(Debug, Clone)]
pub struct Published {
    pub remote_id: String,
    /// The public link. `None` only when the platform does not return one with the id and the
    /// follow-up lookup failed (Instagram); the post exists regardless.
    pub url: Option<String>,
    /// What happened to `PublishRequest::first_comment`. A failed comment never fails the
    /// publish: the post exists, and retrying the whole publish would duplicate it. Retry the
    /// comment alone with `PlatformAdapter::comment`.
    pub first_comment: Option<CommentOutcome>,
}

#[derive(Debug, Clone)]
pub enum CommentOutcome {
    Posted { remote_id: String, url: Option<String> },
    Failed(PlatformError),
}

/// A post read back from the account, for reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemotePost {
    pub remote_id: String,
    /// Plain text as the platform returns it (HTML and markup removed).
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub url: Option<String>,
}

/// Engagement counters; `None` where the platform does not offer the figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostMetrics {
    pub remote_id: String,
    pub impressions: Option<i64>,
    pub likes: Option<i64>,
    pub reposts: Option<i64>,
    pub replies: Option<i64>,
    pub clicks: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountMetrics {
    pub followers: Option<i64>,
    pub following: Option<i64>,
    pub posts: Option<i64>,
}

/// Who the token belongs to, as the platform reports it (used when linking an account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteAccount {
    /// The id to store as `AccountContext::account_id`.
    pub id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub url: Option<String>,
}

/// The linked account an operation acts for.
///
/// | platform  | `account_id`                                  | `instance_url`        |
/// |-----------|-----------------------------------------------|-----------------------|
/// | X         | user id                                       | –                     |
/// | Facebook  | page id (token: the Page access token)        | –                     |
/// | Instagram | Instagram business user id (token: Page token)| –                     |
/// | LinkedIn  | author URN `urn:li:person:…` / `urn:li:organization:…` | –            |
/// | Bluesky   | DID                                           | PDS URL (optional)    |
/// | Mastodon  | account id                                    | instance URL          |
#[derive(Clone)]
pub struct AccountContext {
    access_token: SecretString,
    pub account_id: String,
    pub instance_url: Option<String>,
    /// Shown in permalinks where the platform uses it (X username, Bluesky handle).
    pub handle: Option<String>,
    /// The account's own post length limit where its server sets one (Mastodon instances);
    /// `None`: the configured default.
    pub max_characters: Option<usize>,
}

impl AccountContext {
    pub fn new(access_token: impl Into<String>, account_id: impl Into<String>) -> Self {
        AccountContext {
            access_token: SecretString::from(access_token.into()),
            account_id: account_id.into(),
            instance_url: None,
            handle: None,
            max_characters: None,
        }
    }

    pub fn with_max_characters(mut self, max: usize) -> Self {
        self.max_characters = Some(max);
        self
    }

    pub fn with_instance_url(mut self, url: impl Into<String>) -> Self {
        self.instance_url = Some(url.into());
        self
    }

    pub fn with_handle(mut self, handle: impl Into<String>) -> Self {
        self.handle = Some(handle.into());
        self
    }

    pub fn access_token(&self) -> &str {
        self.access_token.expose_secret()
    }
}

impl fmt::Debug for AccountContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountContext")
            .field("access_token", &"[redacted]")
            .field("account_id", &self.account_id)
            .field("instance_url", &self.instance_url)
            .field("handle", &self.handle)
            .field("max_characters", &self.max_characters)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert_eq!("Twitter".parse::<Platform>().unwrap(), Platform::X);
        assert!("myspace".parse::<Platform>().is_err());
    }

    #[test]
    fn context_debug_hides_the_token() {
        let ctx = AccountContext::new("secret-token-123", "42");
        let shown = format!("{ctx:?}");
        assert!(!shown.contains("secret-token-123"));
        assert!(shown.contains("42"));
    }

    #[test]
    fn media_item_debug_hides_bytes() {
        let item = MediaItem::from_bytes(MediaInfo::new("image/png", 3), vec![1u8, 2, 3]);
        assert!(format!("{item:?}").contains("3 bytes"));
    }

    #[test]
    fn media_kind_from_mime() {
        assert_eq!(MediaInfo::new("image/GIF", 1).kind(), MediaKind::Gif);
        assert_eq!(MediaInfo::new("image/jpeg; q=1", 1).kind(), MediaKind::Image);
        assert_eq!(MediaInfo::new("video/mp4", 1).kind(), MediaKind::Video);
        assert_eq!(MediaInfo::new("application/pdf", 1).kind(), MediaKind::Other);
    }
}
