//! HTTP plumbing shared by every module: middleware, extractors, pages, health, assets.

pub mod assets;
pub mod health;
pub mod middleware;
pub mod page;
pub mod pagination;
pub mod routes;
pub mod tracing_span;

use std::{
    future::{Ready, ready},
    net::{IpAddr, SocketAddr},
};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest, dev::Payload, http::header::X_FORWARDED_FOR, web,
};

use crate::{config::Settings, error, state::AppState};

/// The id of the current request (from `x-request-id` or generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id the request-id middleware gave this request, if it ran.
    pub fn of(msg: &impl actix_web::HttpMessage) -> Option<String> {
        msg.extensions().get::<RequestId>().map(|r| r.0.clone())
    }
}

impl FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(String::new()))))
    }
}

/// Paths whose errors are answered as problem+json rather than HTML.
/// An optional JSON body: `None` when there is none; a body that is there but not valid gets
/// the same problem as a required one (actix's `Option<Json<T>>` would treat it as absent).
pub fn optional_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<Option<T>, error::AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| error::json_deserialize_error(&e))
}

pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path.starts_with("/ws/") || path == "/metrics"
}

/// The client address: the peer, or — when `server.trust_proxy_headers` — the address
/// `server.trusted_proxies` hops from the right of `X-Forwarded-For`. Each proxy appends the
/// address it received the request from, so entries left of that are whatever the client sent
/// and must not decide the rate-limit key.
pub fn client_ip(req: &HttpRequest, trust_proxy: bool) -> Option<IpAddr> {
    if trust_proxy {
        let hops = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.server.trusted_proxies)
            .unwrap_or(1);
        let values = req.headers().get_all(X_FORWARDED_FOR).filter_map(|v| v.to_str().ok());
        if let Some(ip) = forwarded_client(values, hops) {
            return Some(ip);
        }
    }
    req.peer_addr().map(|a| a.ip())
}

/// The entry `hops` from the right of the comma-separated `X-Forwarded-For` values (the
/// leftmost when there are fewer: every entry then came from a trusted proxy).
fn forwarded_client<'a>(values: impl Iterator<Item = &'a str>, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> =
        values.flat_map(|v| v.split(',')).map(str::trim).filter(|e| !e.is_empty()).collect();
    let index = entries.len().saturating_sub(hops.max(1));
    parse_forwarded_ip(entries.get(index)?)
}

/// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = entry.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')).and_then(|e| e.parse().ok())
}

/// Extractor configuration: limits from settings and problem+json for every extractor error.
pub fn extractor_config(cfg: &mut web::ServiceConfig, settings: &Settings) {
    let limit = settings.server.body_limit_bytes;
    cfg.app_data(web::JsonConfig::default().limit(limit).error_handler(error::json_error))
        .app_data(web::FormConfig::default().limit(limit).error_handler(error::form_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PayloadConfig::default().limit(settings.server.upload_limit_bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(header: &[&str], hops: usize) -> Option<String> {
        forwarded_client(header.iter().copied(), hops).map(|ip| ip.to_string())
    }

    #[test]
    fn the_client_is_counted_from_the_right() {
        // nginx appends the peer: whatever the client wrote stays on the left.
        assert_eq!(client(&["6.6.6.6, 198.51.100.9"], 1).as_deref(), Some("198.51.100.9"));
        assert_eq!(client(&["6.6.6.6", "198.51.100.9"], 1).as_deref(), Some("198.51.100.9"));
        // A load balancer before nginx: the client is two hops from the right.
        assert_eq!(
            client(&["6.6.6.6, 198.51.100.9, 10.0.0.2"], 2).as_deref(),
            Some("198.51.100.9")
        );
        assert_eq!(client(&["198.51.100.9"], 2).as_deref(), Some("198.51.100.9"));
        assert_eq!(client(&["[2001:db8::1]:4711"], 1).as_deref(), Some("2001:db8::1"));
        assert_eq!(client(&["203.0.113.7:80"], 1).as_deref(), Some("203.0.113.7"));
        assert_eq!(client(&[], 1), None);
        assert_eq!(client(&["unknown"], 1), None);
    }
}
