//! Text measured the way each platform measures it, and the entities (links, mentions,
//! hashtags) that change the count or need markup. Ranges are UTF-8 byte offsets.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// X and Mastodon count every link as this many characters, whatever its length.
pub const SHORT_URL_LENGTH: usize = 23;

/// Top-level domains recognised in links written without `http(s)://` (X links those too). A
/// short list on purpose: a miss only means X may count a few characters more than we did.
const BARE_TLDS: &[&str] = &[
    "com", "org", "net", "io", "co", "ai", "app", "dev", "edu", "gov", "info", "biz", "me", "tv",
    "us", "uk", "de", "fr", "es", "it", "nl", "ca", "au", "jp", "in", "br", "ch", "se", "eu", "ly",
    "xyz", "social", "blog", "shop", "online", "site", "tech", "news",
];

/// Links in `text`: `http://` / `https://` URLs, `www.` hosts, and with `bare_domains` also
/// `example.com/path`. Trailing punctuation is not part of a link.
pub fn find_urls(text: &str, bare_domains: bool) -> Vec<Range<usize>> {
    tokens(text)
        .filter_map(|(start, token)| {
            let lead =
                token.len() - token.trim_start_matches(['(', '[', '"', '\'', '<', '«']).len();
            let candidate = &token[lead..];
            let lower = candidate.to_ascii_lowercase();
            let is_link = if let Some(rest) =
                lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"))
            {
                rest.chars().next().is_some_and(|c| c.is_alphanumeric())
            } else if lower.starts_with("www.") {
                lower.len() > 4
            } else {
                bare_domains && is_bare_domain(&lower)
            };
            if !is_link {
                return None;
            }
            let len = trim_link_end(candidate);
            Some(start + lead..start + lead + len)
        })
        .collect()
}

fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_whitespace().map(move |t| (t.as_ptr() as usize - text.as_ptr() as usize, t))
}

fn is_bare_domain(token: &str) -> bool {
    if token.contains('@') {
        return false;
    }
    let host = token.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && labels.last().is_some_and(|tld| BARE_TLDS.contains(tld))
}

/// Length of the link once trailing punctuation and unbalanced closing brackets are removed.
fn trim_link_end(candidate: &str) -> usize {
    let mut end = candidate.len();
    loop {
        let Some(last) = candidate[..end].chars().next_back() else { return end };
        let unbalanced_paren = last == ')'
            && candidate[..end].matches('(').count() < candidate[..end].matches(')').count();
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | ']' | '>' | '»')
            || unbalanced_paren
        {
            end -= last.len_utf8();
        } else {
            return end;
        }
    }
}

/// `#tag` ranges (including the `#`). A tag needs one letter, so `#1` is not one.
pub fn find_hashtags(text: &str) -> Vec<Range<usize>> {
    find_prefixed(text, '#', |c| c.is_alphanumeric() || c == '_')
        .into_iter()
        .filter(|r| text[r.start + 1..r.end].chars().any(char::is_alphabetic))
        .collect()
}

/// `@name` ranges (including the `@`); names may contain dots and dashes (`@alice.bsky.social`,
/// `@user@mastodon.social`) but do not end with one.
pub fn find_mentions(text: &str) -> Vec<Range<usize>> {
    find_prefixed(text, '@', |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'))
        .into_iter()
        .map(|r| {
            let trimmed = text[r.clone()].trim_end_matches(['.', '-', '@']).len();
            r.start..r.start + trimmed
        })
        .filter(|r| r.len() > 1)
        .collect()
}

fn find_prefixed(text: &str, sigil: char, body: impl Fn(char) -> bool) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut prev: Option<char> = None;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let at_boundary = prev.is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == sigil));
        if c == sigil && at_boundary {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                if !body(d) {
                    break;
                }
                end = j + d.len_utf8();
                iter.next();
            }
            if end > i + c.len_utf8() {
                found.push(i..end);
            }
            prev = text[..end].chars().next_back();
            continue;
        }
        prev = Some(c);
    }
    found
}

/// User-perceived characters: Bluesky's count.
pub fn grapheme_count(text: &str) -> usize {
    text.graphemes(true).count()
}

/// Unicode scalar values: what Facebook, Instagram and LinkedIn limits count.
pub fn char_count(text: &str) -> usize {
    text.chars().count()
}

/// X's weighted length (twitter-text v3 configuration): code points in the Latin, general
/// punctuation and similar ranges weigh 1, everything else (CJK, most symbols) 2, an emoji
/// (including skin tones and ZWJ sequences) 2 in total, and every link 23. The limit is 280.
/// Text is not NFC-normalised first as twitter-text does, so a decomposed accent counts one more.
pub fn x_weighted_length(text: &str) -> usize {
    let mut weight = 0;
    let mut pos = 0;
    for url in find_urls(text, true) {
        weight += x_segment_weight(&text[pos..url.start]) + SHORT_URL_LENGTH * 100;
        pos = url.end;
    }
    weight += x_segment_weight(&text[pos..]);
    weight / 100
}

fn x_segment_weight(segment: &str) -> usize {
    segment
        .graphemes(true)
        .map(|g| if is_emoji(g) { 200 } else { g.chars().map(x_char_weight).sum() })
        .sum()
}

fn x_char_weight(c: char) -> usize {
    match u32::from(c) {
        0x0000..=0x10FF | 0x2000..=0x200D | 0x2010..=0x201F | 0x2032..=0x2037 => 100,
        _ => 200,
    }
}

/// A grapheme that renders as an emoji.
fn is_emoji(grapheme: &str) -> bool {
    grapheme.chars().any(|c| {
        matches!(u32::from(c),
            0x1F000..=0x1FAFF          // pictographs, emoticons, flags, supplemental symbols
            | 0x2300..=0x23FF          // technical symbols used as emoji (⌚ ⏰)
            | 0x2600..=0x27BF          // miscellaneous symbols and dingbats (☀ ✅)
            | 0x2B00..=0x2BFF          // arrows and stars (⬆ ⭐)
            | 0x3030 | 0x303D | 0x3297 | 0x3299
            | 0xFE0F                   // emoji presentation selector (©️, ❤️)
            | 0x20E3                   // keycap (1️⃣)
        )
    })
}

/// Mastodon's count: characters, every link 23, and a remote mention `@user@domain` only as
/// `@user`.
pub fn mastodon_length(text: &str) -> usize {
    let mut length = 0;
    let mut pos = 0;
    for url in find_urls(text, false) {
        length += char_count(&text[pos..url.start]) + SHORT_URL_LENGTH;
        pos = url.end;
    }
    length += char_count(&text[pos..]);
    for mention in find_mentions(text) {
        let m = &text[mention];
        if let Some(second_at) = m[1..].find('@') {
            length -= char_count(&m[1 + second_at..]);
        }
    }
    length
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_counts_latin_cjk_emoji_and_links() {
        assert_eq!(x_weighted_length("hello"), 5);
        assert_eq!(x_weighted_length("日本語"), 6);
        assert_eq!(x_weighted_length("👍"), 2);
        assert_eq!(x_weighted_length("👍🏽"), 2, "skin tone modifier belongs to the emoji");
        assert_eq!(x_weighted_length("👨‍👩‍👧"), 2, "a ZWJ family is one emoji");
        assert_eq!(x_weighted_length("❤️"), 2);
        assert_eq!(x_weighted_length("1️⃣"), 2);
        assert_eq!(x_weighted_length("café — ok"), 9, "em dash is in a weight-1 range");
        assert_eq!(x_weighted_length("see https://example.com/a/very/long/path?q=1"), 4 + 23);
        assert_eq!(x_weighted_length("short http://a.co"), 6 + 23);
        assert_eq!(x_weighted_length("bare example.com."), 5 + 23 + 1);
    }

    #[test]
    fn links_exclude_trailing_punctuation_and_parentheses() {
        let text = "(see https://example.com/wiki/Foo_(bar)), and www.example.org.";
        let urls: Vec<&str> = find_urls(text, false).into_iter().map(|r| &text[r]).collect();
        assert_eq!(urls, ["https://example.com/wiki/Foo_(bar)", "www.example.org"]);
        assert!(find_urls("email me@example.com", true).is_empty());
        assert!(find_urls("no link in example.com here", false).is_empty());
    }

    #[test]
    fn graphemes_and_mastodon_length() {
        assert_eq!(grapheme_count("é👨‍👩‍👧a"), 3);
        let text =
            "hi @alice@example.social see https://example.com/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
        // "hi " 3 + "@alice" 6 + " see " 5 + 23
        assert_eq!(mastodon_length(text), 3 + 6 + 5 + 23);
    }

    #[test]
    fn hashtags_and_mentions() {
        let text = "#rust and #日本 but not a#b or #123, @alice.bsky.social. and me@mail";
        let tags: Vec<&str> = find_hashtags(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(tags, ["#rust", "#日本"]);
        let mentions: Vec<&str> = find_mentions(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(mentions, ["@alice.bsky.social"]);
    }
}
