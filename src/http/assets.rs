//! Static files, embedded in the binary from `static/` and served with fingerprinted URLs:
//! `/static/css/app.css?v=<hash>` is cached for a year; other requests revalidate by ETag.

use std::{collections::HashMap, sync::LazyLock};

use actix_web::{
    HttpRequest, HttpResponse, get,
    http::header::{self, HeaderValue},
    web,
};
use include_dir::{Dir, File, include_dir};

static STATIC: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/static");

pub struct Asset {
    pub bytes: &'static [u8],
    pub hash: String,
    pub content_type: &'static str,
}

static ASSETS: LazyLock<HashMap<String, Asset>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    collect(&STATIC, &mut map);
    map
});

fn collect(dir: &'static Dir<'static>, map: &mut HashMap<String, Asset>) {
    for file in dir.files() {
        insert(file, map);
    }
    for sub in dir.dirs() {
        collect(sub, map);
    }
}

fn insert(file: &'static File<'static>, map: &mut HashMap<String, Asset>) {
    let path = file.path().to_string_lossy().replace('\\', "/");
    let bytes = file.contents();
    let hash = crate::platform::crypto::sha256_hex(bytes)[..12].to_string();
    map.insert(path.clone(), Asset { bytes, hash, content_type: content_type(&path) });
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "json" | "webmanifest" => "application/json",
        _ => "application/octet-stream",
    }
}

/// The URL of a static file with its content hash, for templates.
pub fn url(path: &str) -> String {
    match ASSETS.get(path) {
        Some(asset) => format!("/static/{path}?v={}", asset.hash),
        None => {
            tracing::warn!(path, "template refers to a missing static file");
            format!("/static/{path}")
        }
    }
}

// not-in-openapi: static files, not JSON
#[get("/static/{path:.*}")]
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(asset) = ASSETS.get(path.as_str()) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    };
    let etag = format!("\"{}\"", asset.hash);
    let fingerprinted = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("v").cloned())
        .is_some_and(|v| v == asset.hash);
    let cache = if fingerprinted {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300, must-revalidate"
    };
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((
        header::ETAG,
        HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
    ))
    .insert_header((header::CACHE_CONTROL, cache));
    if not_modified {
        return res.finish();
    }
    res.content_type(asset.content_type).body(asset.bytes)
}
