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
/// their own lines, common entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with("<!--") {
            i += lower[i..].find("-->").map_or(rest.len(), |e| e + 3);
            continue;
        }
        if rest.starts_with('<') {
            let close = rest.find('>').map_or(rest.len(), |e| e + 1);
            let tag = rest[1..close.saturating_sub(1).max(1)]
                .trim_start_matches('/')
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if (tag == "script" || tag == "style") && !rest.starts_with("</") {
                let end_tag = format!("</{tag}");
                i += lower[i..].find(&end_tag).map_or(rest.len(), |e| e);
                continue;
            }
            if BLOCK_TAGS.contains(&tag.as_str()) {
                out.push('\n');
            }
            i += close;
            continue;
        }
        let next = rest.find('<').unwrap_or(rest.len());
        out.push_str(&decode_entities(&rest[..next]));
        i += next;
    }
    let lines: Vec<String> =
        out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    normalize(&lines.join("\n"))
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
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
    fn text_is_normalized() {
        assert_eq!(from_text(SourceFormat::Markdown, "# T\r\n\r\n\r\n\r\nBody  \n"), "# T\n\nBody");
    }

    #[tokio::test]
    async fn broken_pdfs_are_errors_not_panics() {
        let res = extract(SourceFormat::Pdf, bytes::Bytes::from_static(b"%PDF-1.7 garbage")).await;
        assert!(matches!(res, Err(ExtractError::Pdf(_))), "{res:?}");
    }
}
