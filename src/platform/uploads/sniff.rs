//! The type of an upload, from its first bytes rather than the client's word.

/// What the bytes are, whatever the client claimed: images, video, PDF, or UTF-8 text.
pub fn sniff(bytes: &[u8], filename: &str) -> Option<&'static str> {
    let starts = |sig: &[u8]| bytes.starts_with(sig);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("image/gif");
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Some(if &bytes[8..10] == b"qt" { "video/quicktime" } else { "video/mp4" });
    }
    if starts(b"%PDF-") {
        return Some("application/pdf");
    }
    // Text: valid UTF-8 without NUL or other control bytes (except whitespace).
    let texty =
        |t: &str| !t.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'));
    if std::str::from_utf8(bytes).is_ok_and(texty) {
        let ext = filename.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        return Some(match ext.as_str() {
            "md" | "markdown" => "text/markdown",
            "html" | "htm" => "text/html",
            "csv" => "text/csv",
            "json" => "application/json",
            _ => "text/plain",
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_the_type() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest", "x.png"), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest", "x.jpg"), Some("image/png"));
        assert_eq!(sniff(b"%PDF-1.7", "x"), Some("application/pdf"));
        assert_eq!(sniff(b"# Title", "notes.md"), Some("text/markdown"));
        assert_eq!(sniff(&[0x00, 0xFF, 0xFE, 0x80], "evil.png"), None);
        assert_eq!(sniff(b"\x00\x00\x00\x18ftypmp42", "v"), Some("video/mp4"));
    }
}
