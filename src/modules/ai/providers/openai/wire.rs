//! OpenAI's documented Chat Completions JSON, and its error body.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::{
    error::{ErrorDetails, ProviderError, classify},
    provider::{JSON_INSTRUCTION, body_snippet, settle_finish},
    stream::parse_arguments,
    types::{ChatRequest, ChatResponse, FinishReason, Message, Role, ToolCall, ToolChoice, Usage},
};

/// What differs between OpenAI itself and the servers that imitate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAiCapabilities {
    pub embeddings: bool,
    pub images: bool,
    /// Send `stream_options.include_usage`; a few servers reject the field.
    pub stream_usage: bool,
    /// Send `max_completion_tokens` (OpenAI's current name, required by its reasoning models)
    /// rather than the older `max_tokens` that compatible servers understand.
    pub max_completion_tokens: bool,
}

impl OpenAiCapabilities {
    pub const OPENAI: OpenAiCapabilities = OpenAiCapabilities {
        embeddings: true,
        images: true,
        stream_usage: true,
        max_completion_tokens: true,
    };
}

pub(super) fn chat_body(
    req: &ChatRequest,
    model: &str,
    stream: bool,
    caps: OpenAiCapabilities,
) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let mut messages = Vec::new();
    let mut system = req.system.clone().unwrap_or_default();
    // JSON mode is refused unless the conversation mentions JSON.
    if req.json_mode && !mentions_json(req) {
        if !system.is_empty() {
            system.push_str("\n\n");
        }
        system.push_str(JSON_INSTRUCTION);
    }
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(req.messages.iter().map(message));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(max) = req.max_tokens {
        let key = if caps.max_completion_tokens { "max_completion_tokens" } else { "max_tokens" };
        body.insert(key.into(), json!(max));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &req.tool_choice {
        let value = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
        };
        body.insert("tool_choice".into(), value);
    }
    if req.json_mode {
        body.insert("response_format".into(), json!({"type": "json_object"}));
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    if stream {
        body.insert("stream".into(), json!(true));
        if caps.stream_usage {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    Value::Object(body)
}

fn mentions_json(req: &ChatRequest) -> bool {
    let has = |s: &str| s.to_ascii_lowercase().contains("json");
    req.system.as_deref().is_some_and(has) || req.messages.iter().any(|m| has(&m.content))
}

fn message(m: &Message) -> Value {
    match m.role {
        Role::System => json!({"role": "system", "content": m.content}),
        Role::User => json!({"role": "user", "content": m.content}),
        Role::Assistant if m.tool_calls.is_empty() => {
            json!({"role": "assistant", "content": m.content})
        }
        Role::Assistant => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    json!({"id": c.id, "type": "function", "function": {
                        "name": c.name, "arguments": c.arguments.to_string()}})
                })
                .collect();
            let content = if m.content.is_empty() { Value::Null } else { json!(m.content) };
            json!({"role": "assistant", "content": content, "tool_calls": calls})
        }
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "content": m.content,
        }),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    pub prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

impl WireUsage {
    pub fn apply(&self, usage: &mut Usage) {
        usage.input_tokens = self.prompt_tokens;
        usage.output_tokens = self.completion_tokens;
        usage.cached_input_tokens =
            self.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0);
    }
}

#[derive(Debug, Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: ChoiceMessage,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Option<String>,
}

pub(super) fn parse_chat(body: &[u8], mut usage: Usage) -> Result<ChatResponse, ProviderError> {
    let completion: Completion = super::super::transport::parse_json("chat completion", body)?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ProviderError::protocol("the completion has no choices"))?;
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let arguments =
                parse_arguments(&c.function.name, c.function.arguments.as_deref().unwrap_or(""))?;
            Ok(ToolCall { id: c.id, name: c.function.name, arguments })
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    let mut finish = finish_reason(choice.finish_reason.as_deref());
    let content = match (choice.message.content, choice.message.refusal) {
        (Some(content), _) if !content.is_empty() => content,
        (_, Some(refusal)) => {
            finish = FinishReason::ContentFilter;
            refusal
        }
        (content, None) => content.unwrap_or_default(),
    };
    if let Some(model) = completion.model.filter(|m| !m.is_empty()) {
        usage.model = model;
    }
    if let Some(u) = completion.usage {
        u.apply(&mut usage);
    }
    let finish_reason = settle_finish(finish, !tool_calls.is_empty());
    Ok(ChatResponse { content, tool_calls, finish_reason, usage })
}

pub(super) fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("stop") | None => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_string()),
    }
}

/// OpenAI answers `{"error": {"message", "type", "code"}}`; compatible servers vary
/// (`{"error": "text"}`, vLLM's top-level `message`), so each shape is tried.
pub(crate) fn error_details(body: &[u8]) -> ErrorDetails {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return ErrorDetails { message: body_snippet(body), ..ErrorDetails::default() };
    };
    let err = value.get("error").unwrap_or(&value);
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    match err {
        Value::String(message) => {
            ErrorDetails { message: message.clone(), ..ErrorDetails::default() }
        }
        _ => ErrorDetails {
            message: text(err.get("message")),
            kind: text(err.get("type")),
            code: text(err.get("code")),
            retry_after: None,
        },
    }
}

pub(super) fn parse_error(status: u16, body: &[u8]) -> ProviderError {
    classify(status, error_details(body))
}

/// An `{"error": …}` object sent inside a stream, which has no status of its own.
pub(super) fn stream_error(details: ErrorDetails) -> ProviderError {
    let kind = format!("{} {}", details.kind, details.code).to_ascii_lowercase();
    let status = if kind.contains("rate_limit") {
        429
    } else if kind.contains("invalid_request") {
        400
    } else {
        500
    };
    classify(status, details)
}
