//! Attachment rules: count, mixing, type, size, pixels, aspect ratio, duration, alt text.

use super::{PlatformRules, RuleCode, RuleViolation, Severity};
use crate::modules::social::platforms::{
    text,
    types::{MediaInfo, MediaKind},
};

impl PlatformRules {
    pub(super) fn validate_media(&self, media: &[MediaInfo], out: &mut Vec<RuleViolation>) {
        let name = self.platform.name();
        let v =
            |rule, field: String, limit: String, actual: String, message: String| RuleViolation {
                platform: self.platform,
                rule,
                severity: Severity::Error,
                field,
                limit,
                actual,
                message,
            };
        if self.media_required && media.is_empty() {
            out.push(v(
                RuleCode::MediaRequired,
                "media".into(),
                "1".into(),
                "0".into(),
                format!("Attach at least one image or video: {name} posts need one."),
            ));
        }
        let videos = media.iter().filter(|m| self.is_video_like(m)).count();
        let images = media.len() - videos;
        if videos > 0 && images > 0 && !self.allow_mixed {
            out.push(v(
                RuleCode::MixedMedia,
                "media".into(),
                "images or videos".into(),
                format!("{images} images, {videos} videos"),
                format!("Attach either images or a video: {name} does not mix them in one post."),
            ));
        }
        if videos > self.max_videos {
            out.push(v(
                RuleCode::TooManyMedia,
                "media".into(),
                self.max_videos.to_string(),
                videos.to_string(),
                format!(
                    "Keep {} video(s) or GIF(s) at most: {name} allows no more.",
                    self.max_videos
                ),
            ));
        }
        if media.len() > self.max_images.max(self.max_videos) || images > self.max_images {
            out.push(v(
                RuleCode::TooManyMedia,
                "media".into(),
                self.max_images.to_string(),
                media.len().to_string(),
                format!("Remove attachments: {name} allows at most {} per post.", self.max_images),
            ));
        }
        let carousel = media.len() > 1;
        for (i, m) in media.iter().enumerate() {
            self.validate_item(i, m, carousel, out);
        }
    }

    fn is_video_like(&self, m: &MediaInfo) -> bool {
        match m.kind() {
            MediaKind::Video => true,
            // Where GIFs are not images they are uploaded and limited like videos.
            MediaKind::Gif => !self.image_types.contains(&"image/gif"),
            _ => false,
        }
    }

    fn validate_item(&self, i: usize, m: &MediaInfo, carousel: bool, out: &mut Vec<RuleViolation>) {
        let name = self.platform.name();
        let field = format!("media[{i}]");
        let v = |rule, limit: String, actual: String, message: String| RuleViolation {
            platform: self.platform,
            rule,
            severity: Severity::Error,
            field: field.clone(),
            limit,
            actual,
            message,
        };
        // A violation when the media's aspect ratio is outside `bounds` (with a little slack).
        let aspect = |bounds: Option<(f64, f64)>, what: &str, context: &str| {
            let ((min, max), ratio) = bounds.zip(m.aspect_ratio())?;
            (ratio < min - 0.005 || ratio > max + 0.005).then(|| {
                v(
                    RuleCode::AspectRatio,
                    format!("{min}..{max}"),
                    format!("{ratio:.3}"),
                    format!(
                        "Crop the {what} to an aspect ratio between {} and {}: {name} refuses {}x{}{context}.",
                        ratio_label(min),
                        ratio_label(max),
                        m.width.unwrap_or(0),
                        m.height.unwrap_or(0)
                    ),
                )
            })
        };
        let essence = m.essence();
        let kind = m.kind();
        let (allowed, max_bytes) = match kind {
            MediaKind::Video => (self.video_types, self.max_video_bytes),
            MediaKind::Gif if self.image_types.contains(&"image/gif") => {
                (self.image_types, self.max_gif_bytes)
            }
            MediaKind::Gif => (self.video_types, self.max_gif_bytes),
            _ => (self.image_types, self.max_image_bytes),
        };
        if !allowed.contains(&essence.as_str()) {
            let supported: Vec<&str> =
                self.image_types.iter().chain(self.video_types).copied().collect();
            out.push(v(
                RuleCode::UnsupportedMediaType,
                supported.join(", "),
                essence.clone(),
                format!(
                    "Convert the file to one of {}: {name} does not accept {essence}.",
                    supported.join(", ")
                ),
            ));
            return;
        }
        if m.size_bytes > max_bytes {
            out.push(v(
                RuleCode::MediaTooLarge,
                max_bytes.to_string(),
                m.size_bytes.to_string(),
                format!(
                    "Use a smaller file: {name} accepts up to {} for this type; this one is {}.",
                    human_bytes(max_bytes),
                    human_bytes(m.size_bytes)
                ),
            ));
        }
        if kind != MediaKind::Video {
            if let (Some(max), Some(w), Some(h)) = (self.max_image_pixels, m.width, m.height) {
                let pixels = u64::from(w) * u64::from(h);
                if pixels > max {
                    out.push(v(
                        RuleCode::ImageTooManyPixels,
                        max.to_string(),
                        pixels.to_string(),
                        format!("Resize the image: {name} accepts at most {max} pixels."),
                    ));
                }
            }
            out.extend(aspect(self.image_aspect, "image", ""));
        }
        let video_aspect = if carousel {
            self.carousel_video_aspect.or(self.video_aspect)
        } else {
            self.video_aspect
        };
        if kind == MediaKind::Video {
            out.extend(aspect(video_aspect, "video", if carousel { " in a carousel" } else { "" }));
        }
        if kind == MediaKind::Video
            && let (Some((min, max)), Some(d)) = (self.video_duration_ms, m.duration_ms)
        {
            if d > max {
                out.push(v(
                    RuleCode::VideoTooLong,
                    max.to_string(),
                    d.to_string(),
                    format!("Trim the video to {} seconds or less for {name}.", max / 1000),
                ));
            } else if d < min {
                out.push(v(
                    RuleCode::VideoTooShort,
                    min.to_string(),
                    d.to_string(),
                    format!(
                        "Use a video of at least {:.1} seconds for {name}.",
                        min as f64 / 1000.0
                    ),
                ));
            }
        }
        if let (Some(max), Some(alt)) = (self.max_alt_text, &m.alt_text) {
            let len = text::char_count(alt);
            if len > max {
                out.push(v(
                    RuleCode::AltTextTooLong,
                    max.to_string(),
                    len.to_string(),
                    format!("Shorten the image description to {max} characters for {name}."),
                ));
            }
        }
    }
}

fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{:.0} KB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// `4:5`, `16:9`, `1:3`, `2.4:1`: the way platforms write their ratios.
fn ratio_label(r: f64) -> String {
    let trim = |x: f64| {
        let s = format!("{x:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if (r - 0.8).abs() < 1e-9 {
        "4:5".into()
    } else if (r - 16.0 / 9.0).abs() < 1e-9 {
        "16:9".into()
    } else if r < 1.0 && r > 0.0 {
        format!("1:{}", trim(1.0 / r))
    } else {
        format!("{}:1", trim(r))
    }
}
