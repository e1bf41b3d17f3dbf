//! A minimal `multipart/form-data` encoder (RFC 7578) for the two uploads that need one
//! (Facebook photos, Mastodon media). Built in memory: attachments are already in memory and
//! small, and this spares a reqwest feature (and its extra crates) for two call sites.

use bytes::Bytes;

use crate::platform::crypto::random_token;

pub(crate) struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Multipart {
    pub fn new() -> Self {
        // Random, so file contents cannot contain it by accident (or design).
        Multipart { boundary: format!("smartflow-{}", random_token(18)), body: Vec::new() }
    }

    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.open(name, None, None);
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        self
    }

    pub fn file(mut self, name: &str, filename: &str, mime: &str, data: &[u8]) -> Self {
        self.open(name, Some(filename), Some(mime));
        self.body.extend_from_slice(data);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    fn open(&mut self, name: &str, filename: Option<&str>, mime: Option<&str>) {
        let mut head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"",
            self.boundary,
            quote(name)
        );
        if let Some(filename) = filename {
            head.push_str(&format!("; filename=\"{}\"", quote(filename)));
        }
        head.push_str("\r\n");
        if let Some(mime) = mime {
            head.push_str(&format!("Content-Type: {mime}\r\n"));
        }
        head.push_str("\r\n");
        self.body.extend_from_slice(head.as_bytes());
    }

    /// The `Content-Type` header value and the body.
    pub fn finish(mut self) -> (String, Bytes) {
        self.body.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (format!("multipart/form-data; boundary={}", self.boundary), Bytes::from(self.body))
    }
}

/// Quotes and line breaks would end the header value early.
fn quote(value: &str) -> String {
    value.replace('"', "%22").replace(['\r', '\n'], " ")
}

/// A file name for an upload, from its mime type (platforms sniff the type from it).
pub(crate) fn filename_for(mime: &str, index: usize) -> String {
    let ext = match mime.split(';').next().unwrap_or("").trim() {
        "image/jpeg" | "image/jpg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        _ => "bin",
    };
    format!("media-{index}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_fields_and_files() {
        let (content_type, body) = Multipart::new()
            .text("published", "false")
            .file("source", "a.png", "image/png", b"\x89PNG")
            .finish();
        let boundary = content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(
            text.contains("Content-Disposition: form-data; name=\"published\"\r\n\r\nfalse\r\n")
        );
        assert!(text.contains(
            "name=\"source\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\u{FFFD}PNG\r\n"
        ));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
