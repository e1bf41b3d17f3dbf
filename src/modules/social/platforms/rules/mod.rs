//! Platform rules checked when a post is scheduled (and again, offline, before publishing), so
//! people learn what to change before the post is due rather than from a failed job.

mod media;

use serde::{Deserialize, Serialize};

use super::{
    text,
    types::{Platform, PostDraft},
};

/// Stable rule codes; the UI and the API expose them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleCode {
    EmptyPost,
    TextTooLong,
    FirstCommentTooLong,
    TooManyHashtags,
    TooManyMentions,
    MediaRequired,
    TooManyMedia,
    MixedMedia,
    UnsupportedMediaType,
    MediaTooLarge,
    ImageTooManyPixels,
    AspectRatio,
    VideoTooLong,
    VideoTooShort,
    AltTextTooLong,
    LinkNotClickable,
}

impl RuleCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleCode::EmptyPost => "empty_post",
            RuleCode::TextTooLong => "text_too_long",
            RuleCode::FirstCommentTooLong => "first_comment_too_long",
            RuleCode::TooManyHashtags => "too_many_hashtags",
            RuleCode::TooManyMentions => "too_many_mentions",
            RuleCode::MediaRequired => "media_required",
            RuleCode::TooManyMedia => "too_many_media",
            RuleCode::MixedMedia => "mixed_media",
            RuleCode::UnsupportedMediaType => "unsupported_media_type",
            RuleCode::MediaTooLarge => "media_too_large",
            RuleCode::ImageTooManyPixels => "image_too_many_pixels",
            RuleCode::AspectRatio => "aspect_ratio",
            RuleCode::VideoTooLong => "video_too_long",
            RuleCode::VideoTooShort => "video_too_short",
            RuleCode::AltTextTooLong => "alt_text_too_long",
            RuleCode::LinkNotClickable => "link_not_clickable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The platform would refuse the post.
    Error,
    /// The post goes out, but probably not as intended.
    Warning,
}

/// One broken rule. `limit` and `actual` are machine-readable: integers for counts, lengths,
/// bytes, pixels and milliseconds; `min..max` and a decimal for aspect ratios; mime types for
/// `unsupported_media_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleViolation {
    pub platform: Platform,
    pub rule: RuleCode,
    pub severity: Severity,
    /// `text`, `first_comment`, `media` or `media[2]`.
    pub field: String,
    pub limit: String,
    pub actual: String,
    /// What to change, for people.
    pub message: String,
}

impl RuleViolation {
    pub fn is_blocking(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// How a platform counts text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextCounter {
    /// twitter-text weighted length.
    XWeighted,
    /// Grapheme clusters, plus a UTF-8 byte ceiling (Bluesky).
    Graphemes { max_bytes: usize },
    /// Characters with links as 23 (Mastodon).
    Mastodon,
    /// Unicode characters.
    Chars,
}

impl TextCounter {
    pub fn count(self, text: &str) -> usize {
        match self {
            TextCounter::XWeighted => text::x_weighted_length(text),
            TextCounter::Graphemes { .. } => text::grapheme_count(text),
            TextCounter::Mastodon => text::mastodon_length(text),
            TextCounter::Chars => text::char_count(text),
        }
    }

    fn unit(self) -> &'static str {
        match self {
            TextCounter::XWeighted => "weighted characters (links count 23, emoji and CJK count 2)",
            TextCounter::Graphemes { .. } => "characters",
            TextCounter::Mastodon => "characters (links count 23)",
            TextCounter::Chars => "characters",
        }
    }
}

/// One platform's limits. The tables live in `limits.rs`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformRules {
    pub platform: Platform,
    pub counter: TextCounter,
    pub max_text: usize,
    pub max_comment: usize,
    pub media_required: bool,
    /// Most attachments in one post when they are images.
    pub max_images: usize,
    /// Most videos (or GIFs, on platforms that treat them alike) in one post.
    pub max_videos: usize,
    /// Whether images and videos may share a post.
    pub allow_mixed: bool,
    pub image_types: &'static [&'static str],
    pub video_types: &'static [&'static str],
    pub max_image_bytes: u64,
    pub max_gif_bytes: u64,
    pub max_video_bytes: u64,
    pub max_image_pixels: Option<u64>,
    /// Width / height range for images.
    pub image_aspect: Option<(f64, f64)>,
    /// Width / height range for videos (as displayed), and for videos inside a carousel
    /// where the platform is stricter there (Instagram).
    pub video_aspect: Option<(f64, f64)>,
    pub carousel_video_aspect: Option<(f64, f64)>,
    pub video_duration_ms: Option<(u64, u64)>,
    pub max_hashtags: Option<usize>,
    pub max_mentions: Option<usize>,
    pub max_alt_text: Option<usize>,
    pub links_clickable: bool,
}

impl PlatformRules {
    pub fn validate(&self, draft: &PostDraft) -> Vec<RuleViolation> {
        let mut out = Vec::new();
        let name = self.platform.name();
        let v = |rule, field: &str, limit: String, actual: String, message: String| RuleViolation {
            platform: self.platform,
            rule,
            severity: Severity::Error,
            field: field.to_string(),
            limit,
            actual,
            message,
        };

        if draft.text.trim().is_empty() && draft.media.is_empty() {
            out.push(v(
                RuleCode::EmptyPost,
                "text",
                "1".into(),
                "0".into(),
                format!("Write some text or attach media: {name} does not accept an empty post."),
            ));
        }
        let length = self.counter.count(&draft.text);
        if length > self.max_text {
            out.push(v(
                RuleCode::TextTooLong,
                "text",
                self.max_text.to_string(),
                length.to_string(),
                format!(
                    "Shorten the text by {} to fit {name}'s limit of {} {}.",
                    length - self.max_text,
                    self.max_text,
                    self.counter.unit()
                ),
            ));
        }
        if let TextCounter::Graphemes { max_bytes } = self.counter
            && draft.text.len() > max_bytes
        {
            out.push(v(
                RuleCode::TextTooLong,
                "text",
                max_bytes.to_string(),
                draft.text.len().to_string(),
                format!("Shorten the text: {name} allows at most {max_bytes} bytes of UTF-8."),
            ));
        }
        if let Some(comment) = &draft.first_comment {
            let length = self.counter.count(comment);
            if length > self.max_comment {
                out.push(v(
                    RuleCode::FirstCommentTooLong,
                    "first_comment",
                    self.max_comment.to_string(),
                    length.to_string(),
                    format!(
                        "Shorten the first comment by {} to fit {name}'s limit of {}.",
                        length - self.max_comment,
                        self.max_comment
                    ),
                ));
            }
        }
        for (rule, limit, found, what) in [
            (
                RuleCode::TooManyHashtags,
                self.max_hashtags,
                text::find_hashtags(&draft.text),
                "hashtags",
            ),
            (
                RuleCode::TooManyMentions,
                self.max_mentions,
                text::find_mentions(&draft.text),
                "@mentions",
            ),
        ] {
            if let Some(limit) = limit
                && found.len() > limit
            {
                out.push(v(
                    rule,
                    "text",
                    limit.to_string(),
                    found.len().to_string(),
                    format!(
                        "Remove {} {what}: {name} allows at most {limit}.",
                        found.len() - limit
                    ),
                ));
            }
        }
        if !self.links_clickable && !text::find_urls(&draft.text, false).is_empty() {
            out.push(RuleViolation {
                severity: Severity::Warning,
                ..v(
                    RuleCode::LinkNotClickable,
                    "text",
                    "0".into(),
                    text::find_urls(&draft.text, false).len().to_string(),
                    format!(
                        "Links in {name} captions are not clickable: put the link in your bio or \
                         a first comment instead."
                    ),
                )
            });
        }
        self.validate_media(&draft.media, &mut out);
        out
    }
}
