//! Every documented operation, called with wrong input, answers a 4xx problem — never a 500,
//! never an HTML body. The operations come from the OpenAPI document, so new routes are
//! covered as soon as they exist.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{CacheKind, header, spawn_app_with};

/// Bodies that are wrong in different ways.
const BODIES: &[(&str, &str)] = &[
    ("application/json", "{"),
    ("application/json", "[]"),
    ("application/json", "\"text\""),
    ("application/json", r#"{"unexpected": {"deeply": [1, 2, {"x": null}]}}"#),
    ("application/json", r#"{"email": 12, "name": [], "id": "not-a-uuid", "limit": -1, "url": 5}"#),
    ("text/plain", "plain text"),
];

/// Path parameters that do not exist or do not parse.
const PARAMS: &[&str] =
    &["00000000-0000-0000-0000-000000000000", "not-an-id", "-1", "99999999999999999999"];

fn fill(path: &str, value: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') && seg.ends_with('}') { value } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn no_documented_operation_fails_with_a_server_error_on_bad_input() {
    // Hundreds of calls from one address: limits off, jobs left unrun.
    let app = spawn_app_with(CacheKind::Memory, |s| {
        s.rate_limit.enabled = false;
        s.process.workers = false;
        s.process.cron = false;
    })
    .await;
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    let mut failures = Vec::new();
    let mut calls = 0;
    let mut n = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // A fresh staff admin per operation: sign-out or key revocation cannot spoil the next.
            n += 1;
            let user = app.signup(&format!("robust{n}@example.com")).await;
            app.make_staff(&user).await;
            for param in PARAMS {
                let url = app.url(&fill(path, param));
                let bodies: Vec<(&str, &str)> = if method == Method::GET || method == Method::DELETE
                {
                    vec![("", "")]
                } else {
                    BODIES.to_vec()
                };
                for (ct, body) in bodies {
                    let mut req = app.client.request(method.clone(), &url).bearer_auth(&user.token);
                    if !ct.is_empty() {
                        req = req.header("content-type", ct).body(body.to_string());
                    }
                    let res = req.send().await.unwrap();
                    calls += 1;
                    let status = res.status().as_u16();
                    let ctype = header(res.headers(), "content-type");
                    // 502/503 say an upstream or unconfigured provider is at fault, not the input.
                    if status >= 500 && status != 502 && status != 503 {
                        let text = res.text().await.unwrap_or_default();
                        failures.push(format!("{method} {url} [{body}] → {status}: {text}"));
                    } else if status >= 400
                        && path.starts_with("/api")
                        && !ctype.starts_with("application/problem+json")
                    {
                        failures.push(format!("{method} {url} [{body}] → {status} with {ctype}"));
                    }
                }
            }
        }
    }
    assert!(calls > 100, "only {calls} calls made; is the document empty?");
    assert!(failures.is_empty(), "{} bad answers:\n{}", failures.len(), failures.join("\n"));
}
