//! Rich-text facets for `app.bsky.feed.post`: Bluesky shows plain text unless links, mentions
//! and hashtags are marked with their UTF-8 byte ranges (not characters: "café" is 5 bytes).

use serde_json::{Value, json};

use crate::modules::social::platforms::text::{find_hashtags, find_mentions, find_urls};

/// An entity found in the text, before mentions are resolved to DIDs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Candidate {
    Link { start: usize, end: usize, uri: String },
    Mention { start: usize, end: usize, handle: String },
    Tag { start: usize, end: usize, tag: String },
}

/// Bluesky limits a tag to 64 graphemes; longer ones are left as text.
const MAX_TAG_CHARS: usize = 64;

pub(crate) fn detect(text: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    for r in find_urls(text, false) {
        let raw = &text[r.clone()];
        let uri = if raw.to_ascii_lowercase().starts_with("www.") {
            format!("https://{raw}")
        } else {
            raw.to_string()
        };
        out.push(Candidate::Link { start: r.start, end: r.end, uri });
    }
    for r in find_mentions(text) {
        let handle = &text[r.start + 1..r.end];
        // A handle is a domain name; `@user@instance` (fediverse) is not a Bluesky handle.
        if handle.contains('.') && !handle.contains('@') && !overlaps(&out, r.start, r.end) {
            out.push(Candidate::Mention {
                start: r.start,
                end: r.end,
                handle: handle.to_ascii_lowercase(),
            });
        }
    }
    for r in find_hashtags(text) {
        let tag = &text[r.start + 1..r.end];
        if tag.chars().count() <= MAX_TAG_CHARS && !overlaps(&out, r.start, r.end) {
            out.push(Candidate::Tag { start: r.start, end: r.end, tag: tag.to_string() });
        }
    }
    out.sort_by_key(|c| match c {
        Candidate::Link { start, .. }
        | Candidate::Mention { start, .. }
        | Candidate::Tag { start, .. } => *start,
    });
    out
}

/// A `#fragment` inside a link is not a hashtag.
fn overlaps(found: &[Candidate], start: usize, end: usize) -> bool {
    found.iter().any(|c| match c {
        Candidate::Link { start: s, end: e, .. }
        | Candidate::Mention { start: s, end: e, .. }
        | Candidate::Tag { start: s, end: e, .. } => start < *e && *s < end,
    })
}

pub(crate) fn facet(start: usize, end: usize, feature: Value) -> Value {
    json!({ "index": { "byteStart": start, "byteEnd": end }, "features": [feature] })
}

pub(crate) fn link_facet(start: usize, end: usize, uri: &str) -> Value {
    facet(start, end, json!({ "$type": "app.bsky.richtext.facet#link", "uri": uri }))
}

pub(crate) fn mention_facet(start: usize, end: usize, did: &str) -> Value {
    facet(start, end, json!({ "$type": "app.bsky.richtext.facet#mention", "did": did }))
}

pub(crate) fn tag_facet(start: usize, end: usize, tag: &str) -> Value {
    facet(start, end, json!({ "$type": "app.bsky.richtext.facet#tag", "tag": tag }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_offsets_with_non_ascii_text() {
        // "Café ☕ " is 5 bytes (é takes 2) + 1 + 3 (☕) + 1 = 10 bytes before the link, though
        // only 7 characters.
        let text = "Café ☕ https://example.com/menü #frühstück @alice.bsky.social";
        let found = detect(text);
        let link_start = text.find("https").unwrap();
        assert_eq!(link_start, 10);
        assert_eq!(
            found[0],
            Candidate::Link {
                start: 10,
                end: 10 + "https://example.com/menü".len(),
                uri: "https://example.com/menü".into()
            }
        );
        let tag_start = text.find('#').unwrap();
        assert_eq!(
            found[1],
            Candidate::Tag {
                start: tag_start,
                end: tag_start + "#frühstück".len(),
                tag: "frühstück".into()
            }
        );
        let at = text.find('@').unwrap();
        assert_eq!(
            found[2],
            Candidate::Mention { start: at, end: text.len(), handle: "alice.bsky.social".into() }
        );
    }

    #[test]
    fn fragments_and_fediverse_addresses_are_not_facets() {
        let found = detect("see https://example.com/#section and @bob@mastodon.social");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(matches!(found[0], Candidate::Link { .. }));
    }
}
