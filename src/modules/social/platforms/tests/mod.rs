//! Adapter tests against local fakes that speak each platform's documented wire format.

mod bluesky;
mod facebook;
mod instagram;
mod linkedin;
mod mastodon;
mod oauth;
mod rules;
mod x;
mod x_errors;

use std::{collections::HashMap, time::Duration};

use bytes::Bytes;
use wiremock::{MockServer, Request};

use super::types::{AccountContext, MediaInfo, MediaItem};

pub(super) const TOKEN: &str = "test-access-token-0123456789";

/// Long enough never to fire in a passing test.
pub(super) const TIMEOUT: Duration = Duration::from_secs(10);
/// For "no answer in time" tests: far below the fake's delay.
pub(super) const TINY_TIMEOUT: Duration = Duration::from_millis(200);
/// The fake's delay in those tests; the client gives up long before.
pub(super) const SLOW_REPLY: Duration = Duration::from_secs(10);

pub(super) fn client() -> reqwest::Client {
    crate::app::install_crypto_provider();
    reqwest::Client::new()
}

pub(super) fn ctx(account_id: &str) -> AccountContext {
    AccountContext::new(TOKEN, account_id)
}

pub(super) fn jpeg(bytes: &'static [u8], width: u32, height: u32) -> MediaItem {
    MediaItem::from_bytes(
        MediaInfo::new("image/jpeg", bytes.len() as u64).with_dimensions(width, height),
        Bytes::from_static(bytes),
    )
}

/// Requests the fake received for `method` + `path`, in order.
pub(super) async fn received(server: &MockServer, method: &str, path: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .collect()
}

pub(super) fn form(request: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

pub(super) fn query(request: &Request) -> HashMap<String, String> {
    request.url.query_pairs().into_owned().collect()
}

pub(super) fn json(request: &Request) -> serde_json::Value {
    serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null)
}

pub(super) fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// One part of a `multipart/form-data` body.
#[derive(Debug)]
pub(super) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// Splits a multipart body along the boundary announced in its `Content-Type`.
pub(super) fn multipart(request: &Request) -> Vec<Part> {
    let content_type = header(request, "content-type").unwrap_or("");
    let boundary = content_type.split("boundary=").nth(1).unwrap_or("").to_string();
    let delimiter = format!("--{boundary}");
    let body = &request.body;
    let mut parts = Vec::new();
    let positions: Vec<usize> = find_all(body, delimiter.as_bytes());
    for pair in positions.windows(2) {
        let chunk = &body[pair[0] + delimiter.len() + 2..pair[1] - 2];
        let split = find_all(chunk, b"\r\n\r\n")[0];
        let head = String::from_utf8_lossy(&chunk[..split]).to_string();
        let data = chunk[split + 4..].to_vec();
        let attr = |key: &str| {
            head.split(&format!("{key}=\""))
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(str::to_string)
        };
        let content_type =
            head.lines().find_map(|l| l.strip_prefix("Content-Type: ")).map(str::to_string);
        parts.push(Part {
            name: attr("name").unwrap_or_default(),
            filename: attr("filename"),
            content_type,
            data,
        });
    }
    parts
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}
