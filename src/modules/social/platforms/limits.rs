//! Each platform's published limits, in one place so they are easy to compare and update.

use super::{
    rules::{PlatformRules, TextCounter},
    types::Platform,
};

const MB: u64 = 1024 * 1024;

/// X: 280 weighted characters; 4 images, or 1 video, or 1 GIF; images ≤ 5 MB, GIFs ≤ 15 MB,
/// videos ≤ 512 MB, 0.5–140 s and between 1:3 and 3:1; alt text ≤ 1,000 characters.
pub fn x() -> PlatformRules {
    PlatformRules {
        platform: Platform::X,
        counter: TextCounter::XWeighted,
        max_text: 280,
        max_comment: 280,
        media_required: false,
        max_images: 4,
        max_videos: 1,
        allow_mixed: false,
        image_types: &["image/jpeg", "image/png", "image/webp"],
        video_types: &["video/mp4", "video/quicktime", "image/gif"],
        max_image_bytes: 5 * MB,
        max_gif_bytes: 15 * MB,
        max_video_bytes: 512 * MB,
        max_image_pixels: None,
        image_aspect: None,
        video_aspect: Some((1.0 / 3.0, 3.0)),
        carousel_video_aspect: None,
        video_duration_ms: Some((500, 140_000)),
        max_hashtags: None,
        max_mentions: None,
        max_alt_text: Some(1_000),
        links_clickable: true,
    }
}

/// Facebook Pages: 63,206 characters; up to 10 photos (≤ 4 MB each) or one video (≤ 1 GB through
/// the non-resumable upload, ≤ 240 min).
pub fn facebook() -> PlatformRules {
    PlatformRules {
        platform: Platform::Facebook,
        counter: TextCounter::Chars,
        max_text: 63_206,
        max_comment: 8_000,
        media_required: false,
        max_images: 10,
        max_videos: 1,
        allow_mixed: false,
        image_types: &["image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"],
        video_types: &["video/mp4", "video/quicktime"],
        max_image_bytes: 4 * MB,
        max_gif_bytes: 4 * MB,
        max_video_bytes: 1024 * MB,
        max_image_pixels: None,
        image_aspect: None,
        video_aspect: None,
        carousel_video_aspect: None,
        video_duration_ms: Some((1_000, 240 * 60_000)),
        max_hashtags: None,
        max_mentions: None,
        max_alt_text: None,
        links_clickable: true,
    }
}

/// Instagram (business, content publishing API): a caption of 2,200 characters with at most 30
/// hashtags and 20 mentions; at least one image or video; JPEG images ≤ 8 MB with an aspect
/// ratio between 4:5 and 1.91:1; reels 3 s–15 min ≤ 300 MB between 0.01:1 and 10:1 (videos
/// in a carousel between 4:5 and 16:9); carousels of up to 10 items.
/// Caption links are not clickable.
pub fn instagram() -> PlatformRules {
    PlatformRules {
        platform: Platform::Instagram,
        counter: TextCounter::Chars,
        max_text: 2_200,
        max_comment: 2_200,
        media_required: true,
        max_images: 10,
        max_videos: 10,
        allow_mixed: true,
        image_types: &["image/jpeg"],
        video_types: &["video/mp4", "video/quicktime"],
        max_image_bytes: 8 * MB,
        max_gif_bytes: 0,
        max_video_bytes: 300 * MB,
        max_image_pixels: None,
        image_aspect: Some((0.8, 1.91)),
        video_aspect: Some((0.01, 10.0)),
        carousel_video_aspect: Some((0.8, 16.0 / 9.0)),
        video_duration_ms: Some((3_000, 15 * 60_000)),
        max_hashtags: Some(30),
        max_mentions: Some(20),
        max_alt_text: Some(1_000),
        links_clickable: false,
    }
}

/// LinkedIn (`/rest/posts`): 3,000 characters, comments 1,250; up to 20 images (≤ 36,152,320
/// pixels) or one video (≤ 500 MB, 3 s–30 min, between 1:2.4 and 2.4:1).
pub fn linkedin() -> PlatformRules {
    PlatformRules {
        platform: Platform::LinkedIn,
        counter: TextCounter::Chars,
        max_text: 3_000,
        max_comment: 1_250,
        media_required: false,
        max_images: 20,
        max_videos: 1,
        allow_mixed: false,
        image_types: &["image/jpeg", "image/png", "image/gif"],
        video_types: &["video/mp4"],
        max_image_bytes: 20 * MB,
        max_gif_bytes: 20 * MB,
        max_video_bytes: 500 * MB,
        max_image_pixels: Some(36_152_320),
        image_aspect: None,
        video_aspect: Some((1.0 / 2.4, 2.4)),
        carousel_video_aspect: None,
        video_duration_ms: Some((3_000, 30 * 60_000)),
        max_hashtags: None,
        max_mentions: None,
        max_alt_text: Some(4_086),
        links_clickable: true,
    }
}

/// Bluesky: 300 graphemes and 3,000 bytes; up to 4 images of at most 1,000,000 bytes each.
/// Video needs Bluesky's separate video service, which SmartFlow does not use yet.
pub fn bluesky() -> PlatformRules {
    PlatformRules {
        platform: Platform::Bluesky,
        counter: TextCounter::Graphemes { max_bytes: 3_000 },
        max_text: 300,
        max_comment: 300,
        media_required: false,
        max_images: 4,
        max_videos: 1,
        allow_mixed: false,
        image_types: &["image/jpeg", "image/png", "image/webp"],
        video_types: &[],
        max_image_bytes: 1_000_000,
        max_gif_bytes: 0,
        max_video_bytes: 0,
        max_image_pixels: None,
        image_aspect: None,
        video_aspect: None,
        carousel_video_aspect: None,
        video_duration_ms: None,
        max_hashtags: None,
        max_mentions: None,
        max_alt_text: Some(2_000),
        links_clickable: true,
    }
}

/// Mastodon defaults (an instance may set other limits; `max_characters` is configurable):
/// 500 characters with links as 23; 4 images (≤ 16 MB) or one video (≤ 99 MB).
pub fn mastodon(max_characters: usize) -> PlatformRules {
    PlatformRules {
        platform: Platform::Mastodon,
        counter: TextCounter::Mastodon,
        max_text: max_characters,
        max_comment: max_characters,
        media_required: false,
        max_images: 4,
        max_videos: 1,
        allow_mixed: false,
        image_types: &["image/jpeg", "image/png", "image/gif", "image/webp"],
        video_types: &["video/mp4", "video/webm", "video/quicktime"],
        max_image_bytes: 16 * MB,
        max_gif_bytes: 16 * MB,
        max_video_bytes: 99 * MB,
        max_image_pixels: None,
        image_aspect: None,
        video_aspect: None,
        carousel_video_aspect: None,
        video_duration_ms: None,
        max_hashtags: None,
        max_mentions: None,
        max_alt_text: Some(1_500),
        links_clickable: true,
    }
}
