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

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use crate::{config::Settings, error};

/// The id of the current request (from `x-request-id` or generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

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
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path.starts_with("/ws/") || path == "/metrics"
}

/// The client address: the peer, or the proxy-reported one when `server.trust_proxy_headers`.
pub fn client_ip(req: &HttpRequest, trust_proxy: bool) -> Option<IpAddr> {
    if trust_proxy {
        let info = req.connection_info();
        if let Some(addr) = info.realip_remote_addr() {
            if let Ok(ip) = addr.parse::<IpAddr>() {
                return Some(ip);
            }
            if let Ok(sock) = addr.parse::<SocketAddr>() {
                return Some(sock.ip());
            }
        }
    }
    req.peer_addr().map(|a| a.ip())
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
