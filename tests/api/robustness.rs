//! Every documented operation, called with wrong input, answers a 4xx problem — never a 500,
//! never an HTML body. The operations come from the OpenAPI document, so new routes are
//! covered as soon as they exist.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::helpers::{CacheKind, TestApp, TestUser, header, spawn_app_with};

/// Bodies that are wrong in different ways.
const BODIES: &[(&str, &str)] = &[
    ("application/json", "{"),
    ("application/json", "[]"),
    ("application/json", "\"text\""),
    ("application/json", r#"{"unexpected": {"deeply": [1, 2, {"x": null}]}}"#),
    ("application/json", r#"{"email": 12, "name": [], "id": "not-a-uuid", "limit": -1, "url": 5}"#),
    ("text/plain", "plain text"),
];

/// Bodies with characters and numbers that the database cannot store.
const HOSTILE_BODIES: &[(&str, &str)] = &[
    (
        "application/json",
        r#"{"name": "a\u0000b", "email": "nul\u0000@example.com", "content": "\u0000",
            "title": "x\u0000", "description": "\u0000", "message": "hi\u0000",
            "url": "https://example.com/\u0000", "company": "\u0000", "text": "\u0000"}"#,
    ),
    (
        "application/json",
        r#"{"limit": 99999999999999999999999, "count": 1e400, "price_cents": 9223372036854775808,
            "version": 2147483648, "amount": -1e308}"#,
    ),
    ("application/x-www-form-urlencoded", "name=a%00b&email=robust%40example.com&message=%00"),
    ("application/x-www-form-urlencoded", "name=%ZZ&email=%"),
];

/// Query values that do not parse, overflow or carry NUL.
const QUERY_VALUES: &[&str] =
    &["%00", "a%00b", "99999999999999999999", "-1", "not-a-date", "%ZZ", "2025-13-45T99:99:99Z"];

/// Path parameters that do not exist or do not parse.
const PARAMS: &[&str] =
    &["00000000-0000-0000-0000-000000000000", "not-an-id", "-1", "99999999999999999999", "a%00b"];

fn fill(path: &str, value: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') && seg.ends_with('}') { value } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Hundreds of calls from one address: limits off, jobs left unrun.
async fn app() -> TestApp {
    spawn_app_with(CacheKind::Memory, |s| {
        s.rate_limit.enabled = false;
        s.process.workers = false;
        s.process.cron = false;
    })
    .await
}

/// Every (path, method) of the document.
async fn operations(app: &TestApp) -> (Value, Vec<(String, Method, Value)>) {
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            ops.push((path.clone(), method, op.clone()));
        }
    }
    (doc, ops)
}

/// A fresh staff admin per operation: sign-out or key revocation cannot spoil the next.
async fn staff(app: &TestApp, n: usize) -> TestUser {
    let user = app.signup(&format!("robust{n}@example.com")).await;
    app.make_staff(&user).await;
    user
}

/// Records a 5xx (other than 502/503, which blame an upstream or an unconfigured provider) or
/// a non-problem error body on `/api`.
async fn check(res: reqwest::Response, what: String, path: &str, failures: &mut Vec<String>) {
    let status = res.status().as_u16();
    let ctype = header(res.headers(), "content-type");
    if status >= 500 && status != 502 && status != 503 {
        let text = res.text().await.unwrap_or_default();
        failures.push(format!("{what} → {status}: {text}"));
    } else if status >= 400
        && path.starts_with("/api")
        && !ctype.starts_with("application/problem+json")
    {
        failures.push(format!("{what} → {status} with {ctype}"));
    }
}

#[tokio::test]
async fn no_documented_operation_fails_with_a_server_error_on_bad_input() {
    let app = app().await;
    let (_, ops) = operations(&app).await;
    let mut failures = Vec::new();
    let mut calls = 0;
    for (n, (path, method, _)) in ops.iter().enumerate() {
        let user = staff(&app, n).await;
        for param in PARAMS {
            let url = app.url(&fill(path, param));
            let bodies: Vec<(&str, &str)> = if method == Method::GET || method == Method::DELETE {
                vec![("", "")]
            } else {
                BODIES.iter().chain(HOSTILE_BODIES).copied().collect()
            };
            for (ct, body) in bodies {
                let mut req = app.client.request(method.clone(), &url).bearer_auth(&user.token);
                if !ct.is_empty() {
                    req = req.header("content-type", ct).body(body.to_string());
                }
                calls += 1;
                check(
                    req.send().await.unwrap(),
                    format!("{method} {url} [{body}]"),
                    path,
                    &mut failures,
                )
                .await;
            }
        }
    }
    assert!(calls > 100, "only {calls} calls made; is the document empty?");
    assert!(failures.is_empty(), "{} bad answers:\n{}", failures.len(), failures.join("\n"));
}

/// Well-formed bodies built from each operation's schema, carrying NUL characters in every free
/// text and numbers beyond what the database stores, get past parsing to the handlers and the
/// database; bad query strings reach every query parameter.
#[tokio::test]
async fn nul_characters_huge_numbers_and_bad_queries_are_client_errors() {
    let app = app().await;
    let (doc, ops) = operations(&app).await;
    let mut failures = Vec::new();
    let mut calls = 0;
    for (n, (path, method, op)) in ops.iter().enumerate() {
        let user = staff(&app, n).await;
        // Real ids too, so routes on the caller's own workspace get past the lookup.
        let params = ["00000000-0000-0000-0000-000000000000", &user.workspace_id, &user.user_id];
        if let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"].as_object()
        {
            let schema = Value::Object(schema.clone());
            for mode in [Fill::Nul, Fill::Huge] {
                let body = example(&doc, &schema, mode, 0);
                for param in params {
                    let url = app.url(&fill(path, param));
                    let res = app
                        .client
                        .request(method.clone(), &url)
                        .bearer_auth(&user.token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    calls += 1;
                    check(res, format!("{method} {url} [{body}]"), path, &mut failures).await;
                }
            }
        }
        let queries: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for name in &queries {
            for value in QUERY_VALUES {
                let url = app.url(&format!("{}?{name}={value}", fill(path, params[0])));
                let res = app
                    .client
                    .request(method.clone(), &url)
                    .bearer_auth(&user.token)
                    .send()
                    .await
                    .unwrap();
                calls += 1;
                check(res, format!("{method} {url}"), path, &mut failures).await;
            }
        }
        if method == Method::GET {
            // Repeated and stray parameters, and a query that is not key=value at all.
            for query in ["limit=1&limit=2", "=%00&&=", "%00=%00"] {
                let url = app.url(&format!("{}?{query}", fill(path, params[0])));
                let res = app.client.get(&url).bearer_auth(&user.token).send().await.unwrap();
                calls += 1;
                check(res, format!("GET {url}"), path, &mut failures).await;
            }
        }
    }
    assert!(calls > 100, "only {calls} calls made; is the document empty?");
    assert!(failures.is_empty(), "{} bad answers:\n{}", failures.len(), failures.join("\n"));
}

#[derive(Clone, Copy, PartialEq)]
enum Fill {
    /// Free text carries a NUL character; everything else is plausible.
    Nul,
    /// Integers beyond 32 bits and beyond 64 bits, floats at the edge of f64.
    Huge,
}

/// A value that satisfies `schema`'s shape, with the hostile parts `mode` asks for.
fn example(doc: &Value, schema: &Value, mode: Fill, depth: usize) -> Value {
    if depth > 6 {
        return Value::Null;
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        return example(doc, &doc["components"]["schemas"][name], mode, depth + 1);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) =
            schema[key].as_array().and_then(|v| v.iter().find(|s| s["type"] != "null"))
        {
            return example(doc, first, mode, depth + 1);
        }
    }
    if let Some(v) = schema["enum"].as_array().and_then(|v| v.first()) {
        return v.clone();
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => {
            ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null").to_string()
        }
        _ if schema["properties"].is_object() => "object".into(),
        _ => "string".into(),
    };
    match kind.as_str() {
        "object" => {
            let mut out = Map::new();
            for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
                out.insert(name.clone(), example(doc, prop, mode, depth + 1));
            }
            Value::Object(out)
        }
        "array" => json!([example(doc, &schema["items"], mode, depth + 1)]),
        "integer" => match mode {
            Fill::Nul => json!(1),
            // Past i32 when the schema says int32 (the database's integer), else past i64.
            Fill::Huge if schema["format"] == "int32" => json!(2_147_483_648_i64),
            Fill::Huge => serde_json::from_str("99999999999999999999").unwrap(),
        },
        "number" => match mode {
            Fill::Nul => json!(1.5),
            Fill::Huge => json!(1.7e308),
        },
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => match schema["format"].as_str() {
            Some("uuid") => json!("00000000-0000-0000-0000-000000000000"),
            Some("email") => json!("robust.nul@example.com"),
            Some("date-time") => json!("2030-01-01T09:00:00Z"),
            Some("date") => json!("2030-01-01"),
            Some("uri" | "url") => json!("https://example.com/nul"),
            _ => match mode {
                Fill::Nul => json!("text\u{0}with a NUL"),
                Fill::Huge => json!("plain text"),
            },
        },
    }
}

#[tokio::test]
async fn a_nul_character_is_a_400_that_says_what_to_remove() {
    let app = app().await;
    let user = app.signup("nul@example.com").await;
    let res = app.get_as("/api/audit?action=sign%00in", &user.token).await;
    let body = crate::helpers::assert_problem(res, 400).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("NUL"), "{detail}");
    assert!(!detail.to_lowercase().contains("select"), "no SQL in the answer: {detail}");
}
