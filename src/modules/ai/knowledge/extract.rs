//! Plain text from what users add to a knowledge base: text and Markdown as they are, HTML
//! without its markup, PDF through `pdf-extract`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    Text,
    Markdown,
    Html,
    Pdf,
}

impl SourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Text => "text",
            SourceFormat::Markdown => "markdown",
            SourceFormat::Html => "html",
            SourceFormat::Pdf => "pdf",
        }
    }

    /// The format of an upload, from its detected content type.
    pub fn of_content_type(content_type: &str) -> Option<SourceFormat> {
        match content_type {
            "application/pdf" => Some(SourceFormat::Pdf),
            "text/markdown" => Some(SourceFormat::Markdown),
            "text/html" => Some(SourceFormat::Html),
            "text/plain" | "text/csv" | "application/json" => Some(SourceFormat::Text),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("the PDF could not be read: {0}")]
    Pdf(String),
    #[error("the file is not UTF-8 text")]
    NotText,
    #[error("no text could be found in the document")]
    Empty,
}

/// The text of a document; PDFs are parsed on a blocking thread (a broken file may make the
/// parser panic, which is then an error, not a crash).
pub async fn extract(format: SourceFormat, bytes: bytes::Bytes) -> Result<String, ExtractError> {
    let text = match format {
        SourceFormat::Pdf => tokio::task::spawn_blocking(move || {
            pdf_extract::extract_text_from_mem(&bytes).map_err(|e| ExtractError::Pdf(e.to_string()))
        })
        .await
        .map_err(|_| ExtractError::Pdf("the parser gave up on this file".into()))??,
        other => {
            let text = std::str::from_utf8(&bytes).map_err(|_| ExtractError::NotText)?;
            from_text(other, text)
        }
    };
    let text = normalize(&text);
    if text.trim().is_empty() {
        return Err(ExtractError::Empty);
    }
    Ok(text)
}

/// Text given inline: HTML loses its markup; text and Markdown stay as they are.
pub fn from_text(format: SourceFormat, text: &str) -> String {
    match format {
        SourceFormat::Html => html_to_text(text),
        _ => normalize(text),
    }
}

/// Unix line ends and at most one blank line in a row.
fn normalize(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "hr",
    "dt",
    "dd",
];

/// Visible text of an HTML document: scripts, styles and comments dropped, block elements on
/// their own lines, named and numeric entities decoded. Never panics: a `<` that starts no tag
/// (`a < b`) is text, and an unclosed tag runs to the end.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    // ASCII lowercasing keeps every byte offset, so positions found in `lower` fit `html`.
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with("<!--") {
            i += lower[i..].find("-->").map_or(rest.len(), |e| e + 3);
            continue;
        }
        if let Some(tag) = tag_name(rest) {
            let close = rest.find('>').map_or(rest.len(), |e| e + 1);
            if (tag == "script" || tag == "style") && !rest.starts_with("</") {
                let end_tag = format!("</{tag}");
                i += lower[i..].find(&end_tag).unwrap_or(rest.len());
                continue;
            }
            if BLOCK_TAGS.contains(&tag.as_str()) {
                out.push('\n');
            }
            i += close;
            continue;
        }
        // Text up to the next `<` (past this one when it starts no tag).
        let skip = usize::from(rest.starts_with('<'));
        let next = rest[skip..].find('<').map_or(rest.len(), |n| n + skip);
        out.push_str(&decode_entities(&rest[..next]));
        i += next;
    }
    let lines: Vec<String> =
        out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    normalize(&lines.join("\n"))
}

/// The lowercased name of the tag `s` starts with (`<p`, `</div`, `<!doctype`, `<?xml`), or
/// `None` when the `<` is plain text.
fn tag_name(s: &str) -> Option<String> {
    let body = s.strip_prefix('<')?;
    let body = body.strip_prefix('/').unwrap_or(body);
    let first = body.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '!' || first == '?') {
        return None;
    }
    let name: String = body
        .chars()
        .skip(usize::from(!first.is_ascii_alphabetic()))
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Some(name.to_ascii_lowercase())
}

/// Decodes `&name;`, `&#123;` and `&#x1F600;`; anything else is left as written.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest[1..]
            .find(';')
            .filter(|&end| end <= 10)
            .and_then(|end| entity(&rest[1..=end]).map(|c| (c, end + 2)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character of an entity body (between `&` and `;`).
fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse::<u32>().ok()?,
        };
        // NUL and surrogates are not characters; the replacement character stands in.
        return Some(match code {
            0 => '\u{FFFD}',
            c => char::from_u32(c).unwrap_or('\u{FFFD}'),
        });
    }
    Some(match name {
        "nbsp" => ' ',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "amp" => '&',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "middot" => '·',
        "bull" => '•',
        "deg" => '°',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_visible_text_only() {
        let html = "<html><head><style>p{color:red}</style><script>alert(1)</script></head>\
            <body><h1>Refunds</h1><!-- hidden --><p>Within&nbsp;30 days &amp; free.</p>\
            <ul><li>One</li><li>Two</li></ul></body></html>";
        // Blocks become paragraphs, which chunking prefers as boundaries.
        assert_eq!(html_to_text(html), "Refunds\n\nWithin 30 days & free.\n\nOne\n\nTwo");
    }

    #[test]
    fn a_lone_angle_bracket_before_multibyte_text_is_text() {
        assert_eq!(html_to_text("a < café"), "a < café");
        assert_eq!(html_to_text("a ‹ café"), "a ‹ café");
        assert_eq!(html_to_text("price <€5"), "price <€5");
        assert_eq!(html_to_text("x <é"), "x <é");
        assert_eq!(html_to_text("<p>unclosed <b"), "unclosed");
        assert_eq!(html_to_text("1 <2 and 3> 2"), "1 <2 and 3> 2");
    }

    #[test]
    fn numeric_and_named_entities_are_decoded() {
        assert_eq!(
            html_to_text(
                "<p>caf&#233; &#x2014; &#X1F600; &eacute;&euro;5 &amp;lt; &#0; &#xD800; &#99999999;</p>"
            ),
            "café — 😀 &eacute;€5 &lt; \u{FFFD} \u{FFFD} \u{FFFD}"
        );
        assert_eq!(decode_entities("AT&T & co &; &#;"), "AT&T & co &; &#;");
    }

    /// Arbitrary strings over characters that matter to the parser: never a panic, and the
    /// text never grows (tags and entities only shrink).
    #[test]
    fn any_input_is_handled_without_panicking() {
        use rand::{Rng, SeedableRng};
        const PIECES: &[&str] = &[
            "<",
            ">",
            "</",
            "<!--",
            "-->",
            "&",
            ";",
            "#",
            "x",
            "&#",
            "&#x",
            "p",
            "script",
            "<script>",
            "</script>",
            "<style",
            "é",
            "‹",
            "€",
            "😀",
            " ",
            "\n",
            "a",
            "1",
            "br",
            "/",
            "<p>",
            "<b ",
            "\"",
            "'",
            "=",
            "!",
            "?",
            "&amp",
            "\u{0}",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..5_000 {
            let n = rng.random_range(0..24);
            let input: String = (0..n).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect();
            let text = html_to_text(&input);
            assert!(text.chars().count() <= input.chars().count(), "{input:?} -> {text:?}");
        }
    }

    #[test]
    fn text_is_normalized() {
        assert_eq!(from_text(SourceFormat::Markdown, "# T\r\n\r\n\r\n\r\nBody  \n"), "# T\n\nBody");
    }

    #[tokio::test]
    async fn broken_pdfs_are_errors_not_panics() {
        let res = extract(SourceFormat::Pdf, bytes::Bytes::from_static(b"%PDF-1.7 garbage")).await;
        assert!(matches!(res, Err(ExtractError::Pdf(_))), "{res:?}");
    }
}
