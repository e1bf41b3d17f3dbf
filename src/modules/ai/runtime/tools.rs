//! The tools an agent may call: knowledge search, HTTP fetch of allow-listed URLs (through the
//! SSRF guard) and the current time.

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::Sources;
use crate::{
    modules::ai::{
        agents::config::{AgentConfig, ToolConfig},
        knowledge::{extract::html_to_text, search},
        providers::ToolSpec,
        state::ai,
        usage::ledger::CallContext,
    },
    platform::ssrf,
    state::AppState,
};

/// Longest tool answer handed back to the model.
const MAX_RESULT_CHARS: usize = 20_000;

pub fn specs(config: &AgentConfig) -> Vec<ToolSpec> {
    config
        .tools
        .iter()
        .map(|t| match t {
            ToolConfig::KnowledgeSearch => ToolSpec {
                name: "knowledge_search".into(),
                description: "Search the knowledge bases for passages relevant to a query. \
                    Results are numbered sources; cite them as [n]."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "What to look for"},
                        "top_k": {"type": "integer", "minimum": 1, "maximum": 10}
                    },
                    "required": ["query"]
                }),
            },
            ToolConfig::HttpFetch { allowed_urls } => ToolSpec {
                name: "http_fetch".into(),
                description: format!(
                    "GET a web page or API as text. Only URLs starting with one of these are \
                     allowed: {}",
                    allowed_urls.join(", ")
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {"url": {"type": "string"}},
                    "required": ["url"]
                }),
            },
            ToolConfig::CurrentTime => ToolSpec {
                name: "current_time".into(),
                description: "The current date and time, in UTC and optionally in an IANA \
                    time zone such as Europe/Paris."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {"timezone": {"type": "string"}}
                }),
            },
        })
        .collect()
}

/// Runs one call; `Err` is a message for the model (the tool failed, the answer goes on).
pub async fn call(
    state: &AppState,
    ctx: &CallContext,
    config: &AgentConfig,
    sources: &mut Sources,
    name: &str,
    args: &Value,
) -> Result<String, String> {
    let tool = config
        .tools
        .iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| format!("there is no tool named `{name}`"))?;
    let text =
        |key: &str| args.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    match tool {
        ToolConfig::KnowledgeSearch => {
            let query = text("query").ok_or("give a `query`")?;
            let top_k =
                args.get("top_k").and_then(Value::as_u64).unwrap_or(4).clamp(1, 10) as usize;
            let q = search::Query {
                text: query.to_string(),
                top_k,
                filter: json!({}),
                document_ids: None,
                min_score: 0.0,
                min_similarity: state.settings.ai.chat.retrieval_min_similarity,
            };
            let found = search::search(state, ctx, &config.knowledge_bases, &q)
                .await
                .map_err(|e| format!("the search failed: {e}"))?;
            if found.hits.is_empty() {
                return Ok("No passages matched.".into());
            }
            Ok(found.hits.into_iter().map(|h| sources.add(h)).collect::<Vec<_>>().join("\n\n"))
        }
        ToolConfig::HttpFetch { allowed_urls } => {
            let raw = text("url").ok_or("give a `url`")?;
            // Compare normalised forms, so `/v1/../admin` cannot pass as `/v1/`.
            let parsed = url::Url::parse(raw).map_err(|_| format!("`{raw}` is not a URL"))?;
            let url = parsed.as_str();
            let normal = |p: &String| {
                url::Url::parse(p).map(|u| u.to_string()).unwrap_or_else(|_| p.clone())
            };
            if !allowed_urls.iter().any(|prefix| allowed(&normal(prefix), url)) {
                return Err(format!(
                    "`{url}` is not allowed; use a URL starting with one of: {}",
                    allowed_urls.join(", ")
                ));
            }
            fetch(state, url).await
        }
        ToolConfig::CurrentTime => {
            let now = Utc::now();
            let mut out =
                json!({ "utc": now.to_rfc3339(), "weekday": now.format("%A").to_string() });
            if let Some(tz) = text("timezone") {
                let zone: chrono_tz::Tz =
                    tz.parse().map_err(|_| format!("`{tz}` is not an IANA time zone"))?;
                let local = now.with_timezone(&zone);
                out["timezone"] = json!(tz);
                out["local"] = json!(local.to_rfc3339());
                out["weekday"] = json!(local.format("%A").to_string());
            }
            Ok(out.to_string())
        }
    }
}

/// `url` starts with `prefix` at a path boundary, so `https://a.example` does not admit
/// `https://a.example.evil.com`.
pub fn allowed(prefix: &str, url: &str) -> bool {
    let Some(rest) = url.strip_prefix(prefix) else { return false };
    prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?', '#'])
}

async fn fetch(state: &AppState, url: &str) -> Result<String, String> {
    let settings = &state.settings.ai.tools;
    let timeout = Duration::from_millis(settings.http_timeout_ms);
    let checked = ssrf::check_url(url, settings.allow_private_targets, false, timeout)
        .await
        .map_err(|e| format!("refused: {e}"))?;
    let client = &ai(state).map_err(|e| e.to_string())?.tool_http;
    let res = client
        .get(checked)
        .header("accept", "text/html, text/plain, application/json;q=0.9, */*;q=0.1")
        .send()
        .await
        .map_err(|e| {
            format!(
                "the request failed: {}",
                if e.is_timeout() { "timed out".to_string() } else { e.to_string() }
            )
        })?;
    let status = res.status().as_u16();
    let content_type =
        res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let is_text = content_type.is_empty()
        || content_type.starts_with("text/")
        || content_type.contains("json")
        || content_type.contains("xml");
    if !is_text {
        return Err(format!("HTTP {status}: `{content_type}` is not text"));
    }
    let mut body = Vec::new();
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("the answer was cut off: {e}"))?;
        let room = settings.http_max_bytes.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= settings.http_max_bytes {
            break;
        }
    }
    let raw = String::from_utf8_lossy(&body);
    let text = if content_type.contains("html") { html_to_text(&raw) } else { raw.into_owned() };
    let text: String = text.chars().take(MAX_RESULT_CHARS).collect();
    Ok(format!("HTTP {status} ({content_type})\n\n{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_at_path_boundaries() {
        assert!(allowed("https://api.example.com", "https://api.example.com/v1/x"));
        assert!(allowed("https://api.example.com/v1/", "https://api.example.com/v1/x"));
        assert!(!allowed("https://api.example.com", "https://api.example.com.evil.net/"));
        assert!(!allowed("https://api.example.com/v1", "https://api.example.com/v10"));
        assert!(!allowed("https://api.example.com/v1/", "http://api.example.com/v1/x"));
    }
}
