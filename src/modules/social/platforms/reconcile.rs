//! Finding our own post among the account's recent posts after an attempt whose outcome is
//! unknown.
//!
//! The matching rule (what the publisher relies on):
//! - **time**: the remote post was created at or after the attempt started (`after`), minus
//!   [`CLOCK_SKEW`] because the platform's clock is not ours;
//! - **text**: both texts are normalised — links removed (X rewrites them to t.co, LinkedIn and
//!   Mastodon return markup we strip), whitespace collapsed, case kept — and the remote text
//!   starts with the first [`PREFIX_CHARS`] characters of ours (platforms may append or
//!   truncate); texts shorter than that must be equal;
//! - **several matches**: the earliest wins (it is the first attempt's; later ones would be
//!   duplicates to clean up);
//! - **media-only posts** (empty text) match the earliest post with empty text in the window;
//! - **already claimed**: a remote post confirmed for another target of the same account is
//!   not ours (two identical posts scheduled close together must not both claim the first).
//!
//! Pass `since = after - CLOCK_SKEW` to `recent_posts` so the window is covered.

use chrono::{DateTime, Duration, Utc};

use super::{text::find_urls, types::RemotePost};

pub const CLOCK_SKEW: Duration = Duration::minutes(2);
pub const PREFIX_CHARS: usize = 100;

/// The remote post that is the SmartFlow post with `text`, attempted at `after`.
pub fn find_match<'a>(
    posts: &'a [RemotePost],
    text: &str,
    after: DateTime<Utc>,
) -> Option<&'a RemotePost> {
    find_match_excluding(posts, text, after, &[])
}

/// [`find_match`] among the posts whose ids are not in `taken` (the account's posts already
/// confirmed for other SmartFlow targets).
pub fn find_match_excluding<'a>(
    posts: &'a [RemotePost],
    text: &str,
    after: DateTime<Utc>,
    taken: &[String],
) -> Option<&'a RemotePost> {
    let ours = normalize(text);
    let ours_prefix: String = ours.chars().take(PREFIX_CHARS).collect();
    let prefix_only = ours.chars().count() > PREFIX_CHARS;
    posts
        .iter()
        .filter(|p| p.created_at >= after - CLOCK_SKEW)
        .filter(|p| !taken.contains(&p.remote_id))
        .filter(|p| {
            let theirs = normalize(&p.text);
            if prefix_only { theirs.starts_with(&ours_prefix) } else { theirs == ours }
        })
        .min_by_key(|p| p.created_at)
}

/// Text without links, with runs of whitespace as one space, trimmed.
pub fn normalize(text: &str) -> String {
    let mut without_links = String::with_capacity(text.len());
    let mut pos = 0;
    for url in find_urls(text, true) {
        without_links.push_str(&text[pos..url.start]);
        without_links.push(' ');
        pos = url.end;
    }
    without_links.push_str(&text[pos..]);
    without_links.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: &str, text: &str, minutes: i64) -> RemotePost {
        RemotePost {
            remote_id: id.into(),
            text: text.into(),
            created_at: base() + Duration::minutes(minutes),
            url: None,
        }
    }

    fn base() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn matches_text_despite_rewritten_links_and_whitespace() {
        let posts = [
            post("older", "Launch day! https://t.co/abc", -30),
            post("other", "Something else", 1),
            post("ours", "Launch  day!\n https://t.co/xyz", 1),
        ];
        let found = find_match(&posts, "Launch day! https://smartflow.example/launch", base());
        assert_eq!(found.map(|p| p.remote_id.as_str()), Some("ours"));
    }

    #[test]
    fn respects_the_time_window_with_skew() {
        let posts = [post("skewed", "Hello", -1), post("too-old", "Hello", -10)];
        assert_eq!(find_match(&posts, "Hello", base()).unwrap().remote_id, "skewed");
        assert!(find_match(&posts[1..], "Hello", base()).is_none());
    }

    #[test]
    fn short_texts_must_be_equal_long_texts_share_a_prefix() {
        let posts = [post("longer", "Hello world and more", 1)];
        assert!(find_match(&posts, "Hello world", base()).is_none(), "a prefix is not enough");

        let long = "a".repeat(PREFIX_CHARS + 50);
        let truncated = format!("{}…", &long[..PREFIX_CHARS + 5]);
        let posts = [post("long", &truncated, 1)];
        assert_eq!(find_match(&posts, &long, base()).unwrap().remote_id, "long");
    }

    #[test]
    fn posts_confirmed_for_other_targets_are_not_ours() {
        // Two identical posts: the first target was confirmed with "first".
        let posts = [post("first", "Same text", 1), post("second", "Same text", 2)];
        let taken = ["first".to_string()];
        assert_eq!(
            find_match_excluding(&posts, "Same text", base(), &taken).unwrap().remote_id,
            "second"
        );
        assert!(find_match_excluding(&posts[..1], "Same text", base(), &taken).is_none());
    }

    #[test]
    fn earliest_of_several_and_media_only() {
        let posts = [post("second", "", 3), post("first", "", 1), post("text", "hi", 0)];
        assert_eq!(find_match(&posts, "", base()).unwrap().remote_id, "first");
    }
}
