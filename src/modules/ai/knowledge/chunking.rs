//! Splits a document's text into overlapping chunks that end at natural boundaries, and hashes
//! content so identical chunks and documents are stored once.

use crate::platform::crypto::sha256_hex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub content: String,
    /// Character (not byte) offsets into the document's text.
    pub start: usize,
    pub end: usize,
    pub hash: String,
}

/// The hash that decides whether two texts are the same: whitespace runs count as one space and
/// case is ignored, so re-wrapped copies of a paragraph are still duplicates.
pub fn content_hash(text: &str) -> String {
    let normalized: Vec<String> = text.split_whitespace().map(|w| w.to_lowercase()).collect();
    sha256_hex(normalized.join(" "))
}

/// Chunks of about `size` characters; each starts `overlap` characters before the previous
/// one ended (moved forward to a word start), and ends at the last paragraph break, line or
/// sentence end, or space in its second half.
pub fn split(text: &str, size: usize, overlap: usize) -> Vec<Chunk> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let size = size.max(10);
    let overlap = overlap.min(size / 2);
    let mut chunks = Vec::new();
    let mut start = skip_space(&chars, 0);
    while start < n {
        let mut end = (start + size).min(n);
        if end < n {
            end = boundary(&chars, start + size / 2, end);
        }
        let (s, e) = trim(&chars, start, end);
        if s < e {
            let content: String = chars[s..e].iter().collect();
            chunks.push(Chunk { hash: content_hash(&content), content, start: s, end: e });
        }
        if end >= n {
            break;
        }
        // Back up by the overlap, then forward to the start of a word.
        let mut next = end.saturating_sub(overlap).max(start + 1);
        if next < end && !chars[next - 1].is_whitespace() {
            while next < end && !chars[next].is_whitespace() {
                next += 1;
            }
        }
        start = skip_space(&chars, next);
    }
    chunks
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

fn trim(chars: &[char], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && chars[s].is_whitespace() {
        s += 1;
    }
    while e > s && chars[e - 1].is_whitespace() {
        e -= 1;
    }
    (s, e)
}

/// The best place to end a chunk within `from..to`: after a blank line, else a line end, else
/// a sentence end, else a space; `to` when there is none.
fn boundary(chars: &[char], from: usize, to: usize) -> usize {
    let window = from..to;
    let last = |pred: &dyn Fn(usize) -> bool| window.clone().rev().find(|&i| pred(i));
    let blank = |i: usize| i > 0 && chars[i] == '\n' && chars[i - 1] == '\n';
    let line = |i: usize| chars[i] == '\n';
    let sentence = |i: usize| {
        i > 0 && chars[i].is_whitespace() && matches!(chars[i - 1], '.' | '!' | '?' | ';' | ':')
    };
    let space = |i: usize| chars[i].is_whitespace();
    last(&blank)
        .or_else(|| last(&line))
        .or_else(|| last(&sentence))
        .or_else(|| last(&space))
        .map_or(to, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_chunk_with_offsets() {
        let chunks = split("  Hello world.  ", 100, 20);
        assert_eq!(chunks.len(), 1);
        assert_eq!((chunks[0].start, chunks[0].end), (2, 14));
        assert_eq!(chunks[0].content, "Hello world.");
    }

    #[test]
    fn chunks_overlap_end_on_boundaries_and_cover_the_text() {
        let sentence = "The quick brown fox jumps over the lazy dog. ";
        let text = sentence.repeat(40);
        let chunks = split(&text, 200, 50);
        assert!(chunks.len() > 5);
        let chars: Vec<char> = text.chars().collect();
        for pair in chunks.windows(2) {
            assert!(pair[1].start < pair[0].end, "consecutive chunks overlap");
            assert!(pair[1].start > pair[0].start, "progress");
        }
        for c in &chunks {
            assert!(c.end - c.start <= 200);
            assert_eq!(c.content, chars[c.start..c.end].iter().collect::<String>());
            assert!(c.content.ends_with('.') || c.end == chars.len() - 1, "{:?}", c.content);
            assert!(c.content.starts_with(|ch: char| ch.is_alphabetic()), "starts at a word");
        }
        assert_eq!(chunks.last().map(|c| c.end), Some(text.trim_end().chars().count()));
    }

    #[test]
    fn paragraph_breaks_win_and_unicode_offsets_are_characters() {
        let text = format!("{}\n\n{}", "é".repeat(120), "ü".repeat(120));
        let chunks = split(&text, 200, 20);
        assert_eq!(chunks[0].content, "é".repeat(120));
        assert_eq!(chunks[1].start, 122);
    }

    #[test]
    fn hashes_ignore_case_and_spacing() {
        assert_eq!(content_hash("Hello   World\n"), content_hash("hello world"));
        assert_ne!(content_hash("hello world"), content_hash("hello, world"));
    }
}
