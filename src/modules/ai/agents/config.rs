//! An agent's configuration: the seed's `configuration` JSONB, parsed into a typed and
//! versioned struct on every write, with an error per bad field.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{config::Settings, error::FieldError};

/// The configuration format this build writes; stored rows carry theirs in `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// How an agent answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentConfig {
    /// Format of this document (currently 1).
    pub schema_version: u32,
    /// `openai`, `anthropic`, `gemini` or an OpenAI-compatible endpoint's name; `null`: the
    /// server's default provider chain.
    pub provider: Option<String>,
    /// `null`: the provider's default chat model.
    pub model: Option<String>,
    pub system_prompt: String,
    /// 0–2; `null`: the provider's default.
    pub temperature: Option<f32>,
    /// Longest answer per model call; `null`: the provider's default.
    pub max_tokens: Option<u32>,
    pub tools: Vec<ToolConfig>,
    /// Knowledge bases searched for every message (and by the `knowledge_search` tool).
    pub knowledge_bases: Vec<Uuid>,
    /// Earlier messages of the conversation sent with each request.
    pub memory_window: u32,
    /// Most model calls for one answer (each tool round is one).
    pub max_tool_iterations: u32,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToolConfig {
    /// Searches the agent's knowledge bases.
    KnowledgeSearch,
    /// GETs a URL that starts with one of `allowed_urls` (SSRF-guarded, text only).
    HttpFetch { allowed_urls: Vec<String> },
    /// The current date and time, in any IANA time zone.
    CurrentTime,
}

impl ToolConfig {
    pub fn name(&self) -> &'static str {
        match self {
            ToolConfig::KnowledgeSearch => "knowledge_search",
            ToolConfig::HttpFetch { .. } => "http_fetch",
            ToolConfig::CurrentTime => "current_time",
        }
    }
}

/// What clients send; every field optional so each missing or wrong one is reported.
#[derive(Debug, Default)]
struct RawConfig {
    schema_version: Option<u32>,
    provider: Option<String>,
    model: Option<String>,
    system_prompt: Option<String>,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    tools: Option<Vec<Value>>,
    knowledge_bases: Option<Vec<Uuid>>,
    memory_window: Option<u32>,
    max_tool_iterations: Option<u32>,
}

const FIELD: &str = "configuration";

fn err(field: &str, code: &str, message: impl Into<String>) -> FieldError {
    let field = if field.is_empty() { FIELD.to_string() } else { format!("{FIELD}.{field}") };
    FieldError::new(field, code, message)
}

/// Parses and checks a configuration; knowledge base ids are checked against the workspace
/// by the caller. `null` or a missing configuration gives the defaults.
pub fn parse(value: Option<&Value>, settings: &Settings) -> Result<AgentConfig, Vec<FieldError>> {
    let mut errors = Vec::new();
    let raw = match value {
        None | Some(Value::Null) => RawConfig::default(),
        Some(Value::Object(fields)) => read_fields(fields, &mut errors),
        Some(_) => {
            return Err(vec![err("", "invalid_type", "Send the configuration as a JSON object.")]);
        }
    };
    if let Some(v) = raw.schema_version.filter(|v| *v != SCHEMA_VERSION) {
        errors.push(err(
            "schema_version",
            "unsupported",
            format!("Version {v} is unknown; use {SCHEMA_VERSION}."),
        ));
    }
    let clean = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let provider = clean(raw.provider);
    if let Some(p) = &provider {
        let names = settings.ai.names();
        if !names.contains(p) {
            errors.push(err("provider", "unknown", format!("`{p}` is not a provider of this server; use one of {}, or omit it for the default.", names.join(", "))));
        }
    }
    let model = clean(raw.model);
    if model.as_ref().is_some_and(|m| m.chars().count() > 200) {
        errors.push(err("model", "too_long", "Use at most 200 characters."));
    }
    let system_prompt = raw.system_prompt.unwrap_or_default();
    if system_prompt.chars().count() > 32_000 {
        errors.push(err("system_prompt", "too_long", "Use at most 32,000 characters."));
    }
    if let Some(t) = raw.temperature.filter(|t| !(0.0..=2.0).contains(t) || !t.is_finite()) {
        errors.push(err("temperature", "out_of_range", format!("{t} is outside 0–2.")));
    }
    if raw.max_tokens.is_some_and(|m| !(1..=128_000).contains(&m)) {
        errors.push(err("max_tokens", "out_of_range", "Use 1 to 128,000 tokens."));
    }
    let tools = parse_tools(raw.tools.unwrap_or_default(), &mut errors);
    let knowledge_bases = raw.knowledge_bases.unwrap_or_default();
    if knowledge_bases.len() > 10 {
        errors.push(err("knowledge_bases", "too_many", "Use at most 10 knowledge bases."));
    }
    let mut seen = Vec::new();
    for (i, kb) in knowledge_bases.iter().enumerate() {
        if seen.contains(kb) {
            errors.push(err(&format!("knowledge_bases.{i}"), "duplicate", "Listed twice."));
        }
        seen.push(*kb);
    }
    if tools.contains(&ToolConfig::KnowledgeSearch) && knowledge_bases.is_empty() {
        errors.push(err(
            "tools",
            "needs_knowledge",
            "`knowledge_search` needs at least one entry in `knowledge_bases`.",
        ));
    }
    let memory_window = raw.memory_window.unwrap_or(20);
    if memory_window > 200 {
        errors.push(err("memory_window", "out_of_range", "Use 0 to 200 messages."));
    }
    let cap = settings.ai.tools.max_iterations;
    let max_tool_iterations = raw.max_tool_iterations.unwrap_or(cap.min(4));
    if !(1..=cap).contains(&max_tool_iterations) {
        errors.push(err(
            "max_tool_iterations",
            "out_of_range",
            format!("Use 1 to {cap} (ai.tools.max_iterations)."),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(AgentConfig {
        schema_version: SCHEMA_VERSION,
        provider,
        model,
        system_prompt,
        temperature: raw.temperature,
        max_tokens: raw.max_tokens,
        tools,
        knowledge_bases,
        memory_window,
        max_tool_iterations,
    })
}

/// Reads each known field on its own, so every field of a wrong type is reported, not only
/// the first; unknown fields are reported too.
fn read_fields(fields: &serde_json::Map<String, Value>, errors: &mut Vec<FieldError>) -> RawConfig {
    fn read<T: serde::de::DeserializeOwned>(
        key: &str,
        value: &Value,
        errors: &mut Vec<FieldError>,
    ) -> Option<T> {
        if value.is_null() {
            return None;
        }
        serde_json::from_value(value.clone())
            .map_err(|e| errors.push(err(key, "invalid_type", format!("{e}."))))
            .ok()
    }
    let mut raw = RawConfig::default();
    for (key, value) in fields {
        match key.as_str() {
            "schema_version" => raw.schema_version = read(key, value, errors),
            "provider" => raw.provider = read(key, value, errors),
            "model" => raw.model = read(key, value, errors),
            "system_prompt" => raw.system_prompt = read(key, value, errors),
            "temperature" => raw.temperature = read(key, value, errors),
            "max_tokens" => raw.max_tokens = read(key, value, errors),
            "tools" => raw.tools = read(key, value, errors),
            "knowledge_bases" => raw.knowledge_bases = read(key, value, errors),
            "memory_window" => raw.memory_window = read(key, value, errors),
            "max_tool_iterations" => raw.max_tool_iterations = read(key, value, errors),
            other => errors.push(err(
                other,
                "unknown",
                "Not a configuration field: use schema_version, provider, model, system_prompt, \
                 temperature, max_tokens, tools, knowledge_bases, memory_window or \
                 max_tool_iterations.",
            )),
        }
    }
    raw
}

fn parse_tools(values: Vec<Value>, errors: &mut Vec<FieldError>) -> Vec<ToolConfig> {
    let mut tools: Vec<ToolConfig> = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let at = format!("tools.{i}");
        let tool: ToolConfig = match serde_json::from_value(value) {
            Ok(t) => t,
            Err(e) => {
                errors.push(err(&at, "invalid", format!("{e}; use {{\"type\": \"knowledge_search\" | \"http_fetch\" | \"current_time\"}}.")));
                continue;
            }
        };
        if tools.iter().any(|t| t.name() == tool.name()) {
            errors.push(err(&at, "duplicate", format!("`{}` is listed twice.", tool.name())));
            continue;
        }
        if let ToolConfig::HttpFetch { allowed_urls } = &tool {
            if allowed_urls.is_empty() || allowed_urls.len() > 20 {
                errors.push(err(
                    &format!("{at}.allowed_urls"),
                    "required",
                    "List 1 to 20 URL prefixes the agent may fetch.",
                ));
            }
            for (j, prefix) in allowed_urls.iter().enumerate() {
                let ok = url::Url::parse(prefix)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    errors.push(err(
                        &format!("{at}.allowed_urls.{j}"),
                        "invalid_url",
                        "Use an http(s) URL prefix such as https://api.example.com/v1/.",
                    ));
                }
            }
        }
        tools.push(tool);
    }
    tools
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(result: Result<AgentConfig, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_and_round_trip() {
        let settings = Settings::default();
        let config = parse(None, &settings).unwrap();
        assert_eq!(config.schema_version, 1);
        assert_eq!(config.memory_window, 20);
        let stored = serde_json::to_value(&config).unwrap();
        assert_eq!(parse(Some(&stored), &settings).unwrap(), config);
    }

    #[test]
    fn each_bad_field_is_named() {
        let settings = Settings::default();
        let bad = json!({
            "provider": "mistral", "temperature": 3.5, "max_tokens": 0, "memory_window": 500,
            "tools": [{"type": "http_fetch", "allowed_urls": ["ftp://x"]}, {"type": "teleport"}],
            "max_tool_iterations": 99
        });
        let got = fields(parse(Some(&bad), &settings));
        for f in [
            "provider",
            "temperature",
            "max_tokens",
            "memory_window",
            "tools.0.allowed_urls.0",
            "tools.1",
            "max_tool_iterations",
        ] {
            assert!(got.contains(&format!("configuration.{f}")), "{f} missing from {got:?}");
        }
        assert_eq!(
            fields(parse(Some(&json!({"colour": "red"})), &settings)),
            vec!["configuration.colour"]
        );
        // Every field of the wrong type is named, not only the first one.
        let mut got = fields(parse(
            Some(&json!({"temperature": "hot", "max_tokens": "many", "knowledge_bases": ["x"],
                "memory_window": -1, "tools": {}, "colour": 1})),
            &settings,
        ));
        got.sort();
        assert_eq!(
            got,
            [
                "configuration.colour",
                "configuration.knowledge_bases",
                "configuration.max_tokens",
                "configuration.memory_window",
                "configuration.temperature",
                "configuration.tools",
            ]
        );
        assert_eq!(
            fields(parse(Some(&json!({"tools": [{"type": "knowledge_search"}]})), &settings)),
            vec!["configuration.tools"]
        );
    }
}
