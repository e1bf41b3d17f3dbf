//! LinkedIn's "little text" format for post commentary. Its markup characters must be escaped
//! with a backslash, or LinkedIn silently cuts the text at the first one (a bare `(` or `*` in
//! an ordinary sentence is enough). Hashtags are written as templates so they stay links.

use crate::modules::social::platforms::text::find_hashtags;

const RESERVED: &[char] =
    &['\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~'];

/// Plain text → little text.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut pos = 0;
    for tag in find_hashtags(text) {
        push_escaped(&mut out, &text[pos..tag.start]);
        out.push_str("{hashtag|\\#|");
        push_escaped(&mut out, &text[tag.start + 1..tag.end]);
        out.push('}');
        pos = tag.end;
    }
    push_escaped(&mut out, &text[pos..]);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if RESERVED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Little text → plain text, for comparing a post read back with what was sent.
pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{hashtag|") {
        out.push_str(&unescape_chars(&rest[..start]));
        let template = &rest[start..];
        match template.find('}') {
            Some(end) => {
                // {hashtag|\#|tag} → #tag
                let inner = &template["{hashtag|".len()..end];
                let tag = inner.rsplit('|').next().unwrap_or("");
                out.push('#');
                out.push_str(&unescape_chars(tag));
                rest = &template[end + 1..];
            }
            None => {
                out.push_str(&unescape_chars(template));
                rest = "";
            }
        }
    }
    out.push_str(&unescape_chars(rest));
    out
}

fn unescape_chars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_templates_hashtags() {
        let text = "Q3 (final) results *today* #growth @team_x";
        let escaped = escape(text);
        assert_eq!(escaped, r"Q3 \(final\) results \*today\* {hashtag|\#|growth} \@team\_x");
        assert_eq!(unescape(&escaped), text);
    }
}
