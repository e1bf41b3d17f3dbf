use crate::modules::social::platforms::{
    limits,
    rules::{RuleCode, Severity},
    types::{MediaInfo, Platform, PostDraft},
};

fn text(text: impl Into<String>) -> PostDraft {
    PostDraft { text: text.into(), media: Vec::new(), first_comment: None }
}

fn with_media(text: &str, media: Vec<MediaInfo>) -> PostDraft {
    PostDraft { text: text.into(), media, first_comment: None }
}

#[test]
fn x_counts_weighted_length_at_the_limit() {
    let x = limits::x();
    assert!(x.validate(&text("a".repeat(280))).is_empty());
    let over = x.validate(&text("a".repeat(281)));
    assert_eq!(over.len(), 1);
    assert_eq!(over[0].rule, RuleCode::TextTooLong);
    assert_eq!(over[0].platform, Platform::X);
    assert_eq!((over[0].limit.as_str(), over[0].actual.as_str()), ("280", "281"));
    assert!(over[0].message.contains("by 1"));

    // CJK weighs 2: 140 characters fill the post.
    assert!(x.validate(&text("字".repeat(140))).is_empty());
    assert_eq!(x.validate(&text("字".repeat(141)))[0].actual, "282");
    // An emoji with a skin tone is one emoji of weight 2.
    assert!(x.validate(&text("👍🏽".repeat(140))).is_empty());
    // Any link is 23, however long.
    let long_link = format!("https://example.com/{}", "p".repeat(200));
    assert!(x.validate(&text(format!("{} {long_link}", "a".repeat(256)))).is_empty());
    assert_eq!(x.validate(&text(format!("{} {long_link}", "a".repeat(257))))[0].actual, "281");
}

#[test]
fn bluesky_counts_graphemes_and_mastodon_links_as_23() {
    let bsky = limits::bluesky();
    // 300 family emoji are 300 graphemes (but 5,400 bytes, over the byte ceiling).
    let families = "👨‍👩‍👧".repeat(300);
    let found = bsky.validate(&text(families));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].limit, "3000", "only the byte ceiling is exceeded");
    assert!(bsky.validate(&text("é".repeat(300))).is_empty());
    assert_eq!(bsky.validate(&text("é".repeat(301)))[0].limit, "300");

    let mastodon = limits::mastodon(500);
    let link = format!("https://example.com/{}", "x".repeat(600));
    assert!(mastodon.validate(&text(format!("{} {link}", "a".repeat(476)))).is_empty());
    assert_eq!(mastodon.validate(&text(format!("{} {link}", "a".repeat(477))))[0].actual, "501");
}

#[test]
fn oversized_and_unsupported_media_are_named() {
    let x = limits::x();
    let big = MediaInfo::new("image/jpeg", 6 * 1024 * 1024);
    let found = x.validate(&with_media("hi", vec![big]));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule, RuleCode::MediaTooLarge);
    assert_eq!(found[0].field, "media[0]");
    assert_eq!((found[0].limit.as_str(), found[0].actual.as_str()), ("5242880", "6291456"));
    assert!(found[0].message.contains("5.0 MB"));

    // GIFs on X are limited like videos, at 15 MB.
    assert!(
        x.validate(&with_media("hi", vec![MediaInfo::new("image/gif", 10 * 1024 * 1024)]))
            .is_empty()
    );

    let bsky = limits::bluesky();
    assert!(
        bsky.validate(&with_media("hi", vec![MediaInfo::new("image/png", 1_000_000)])).is_empty()
    );
    let found = bsky.validate(&with_media("hi", vec![MediaInfo::new("image/png", 1_000_001)]));
    assert_eq!(found[0].rule, RuleCode::MediaTooLarge);
    let video = bsky.validate(&with_media("hi", vec![MediaInfo::new("video/mp4", 10)]));
    assert_eq!(video[0].rule, RuleCode::UnsupportedMediaType);
    assert_eq!(video[0].actual, "video/mp4");
}

#[test]
fn media_counts_and_mixing() {
    let x = limits::x();
    let image = || MediaInfo::new("image/png", 10);
    let found = x.validate(&with_media("hi", (0..5).map(|_| image()).collect()));
    assert_eq!(found[0].rule, RuleCode::TooManyMedia);
    assert_eq!((found[0].limit.as_str(), found[0].actual.as_str()), ("4", "5"));

    let mixed = x.validate(&with_media("hi", vec![image(), MediaInfo::new("video/mp4", 10)]));
    assert!(mixed.iter().any(|v| v.rule == RuleCode::MixedMedia), "{mixed:?}");

    let long_video = MediaInfo::new("video/mp4", 10).with_duration_ms(141_000);
    assert_eq!(x.validate(&with_media("hi", vec![long_video]))[0].rule, RuleCode::VideoTooLong);

    let empty = limits::facebook().validate(&text("   "));
    assert_eq!(empty[0].rule, RuleCode::EmptyPost);
}

#[test]
fn instagram_links_warn_and_first_comment_is_checked() {
    let ig = limits::instagram();
    let draft = PostDraft {
        text: "New drop https://shop.example/drop".into(),
        media: vec![MediaInfo::new("image/jpeg", 100).with_dimensions(1080, 1080)],
        first_comment: Some("x".repeat(2_201)),
    };
    let found = ig.validate(&draft);
    let link = found.iter().find(|v| v.rule == RuleCode::LinkNotClickable).unwrap();
    assert_eq!(link.severity, Severity::Warning);
    assert!(!link.is_blocking());
    let comment = found.iter().find(|v| v.rule == RuleCode::FirstCommentTooLong).unwrap();
    assert_eq!(comment.field, "first_comment");
    assert!(comment.is_blocking());
}

#[test]
fn violations_serialize_with_stable_codes() {
    let found = limits::linkedin().validate(&text("a".repeat(3_001)));
    let value = serde_json::to_value(&found[0]).unwrap();
    assert_eq!(value["rule"], "text_too_long");
    assert_eq!(value["platform"], "linkedin");
    assert_eq!(value["severity"], "error");
    assert_eq!(RuleCode::AspectRatio.as_str(), "aspect_ratio");
}

#[test]
fn measured_videos_meet_duration_and_aspect_rules() {
    let video = |w, h, secs: u64| {
        MediaInfo::new("video/mp4", 10).with_dimensions(w, h).with_duration_ms(secs * 1_000)
    };
    let x = limits::x();
    assert!(x.validate(&with_media("hi", vec![video(1280, 720, 30)])).is_empty());
    let panorama = x.validate(&with_media("hi", vec![video(4000, 1000, 30)]));
    assert_eq!(panorama[0].rule, RuleCode::AspectRatio);
    assert!(panorama[0].message.contains("between 1:3 and 3:1"), "{}", panorama[0].message);

    let ig = limits::instagram();
    // A portrait reel is fine alone; in a carousel Instagram wants 4:5 to 16:9.
    assert!(ig.validate(&with_media("hi", vec![video(1080, 1920, 30)])).is_empty());
    let image = MediaInfo::new("image/jpeg", 10).with_dimensions(1080, 1080);
    let carousel = ig.validate(&with_media("hi", vec![image, video(1080, 1920, 30)]));
    assert_eq!(carousel.len(), 1, "{carousel:?}");
    assert_eq!((carousel[0].rule, carousel[0].field.as_str()), (RuleCode::AspectRatio, "media[1]"));
    assert!(carousel[0].message.contains("in a carousel"));
    let short = ig.validate(&with_media("hi", vec![video(1080, 1920, 2)]));
    assert_eq!(short[0].rule, RuleCode::VideoTooShort);
}
