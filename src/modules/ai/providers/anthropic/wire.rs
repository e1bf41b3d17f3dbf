//! Anthropic's Messages API JSON: requests with a top-level `system`, content blocks
//! (`text`, `tool_use`, `tool_result`), answers with `stop_reason` and cache-aware usage.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::{
    error::{ErrorDetails, ProviderError, classify},
    provider::{JSON_INSTRUCTION, body_snippet, settle_finish},
    types::{ChatRequest, ChatResponse, FinishReason, Message, Role, ToolCall, ToolChoice, Usage},
};

/// Anthropic requires `max_tokens`; this is sent when the request has none.
pub(super) const DEFAULT_MAX_TOKENS: u32 = 4096;

/// JSON mode without other tools forces this tool: its input is the JSON object. Prefilling the
/// answer with `{` would be simpler but newer models reject prefills.
pub(super) const JSON_TOOL: &str = "json_response";

/// Whether `req` is answered through [`JSON_TOOL`].
pub(super) fn uses_json_tool(req: &ChatRequest) -> bool {
    req.json_mode && req.tools.is_empty()
}

pub(super) fn chat_body(req: &ChatRequest, model: &str, stream: bool) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
    let mut system: Vec<&str> = req.system.iter().map(String::as_str).collect();
    system
        .extend(req.messages.iter().filter(|m| m.role == Role::System).map(|m| m.content.as_str()));
    if req.json_mode && !uses_json_tool(req) {
        system.push(JSON_INSTRUCTION);
    }
    let system: Vec<&str> = system.into_iter().filter(|s| !s.is_empty()).collect();
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages(&req.messages)));
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .map(
            |t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}),
        )
        .collect();
    let mut tool_choice = req.tool_choice.as_ref().map(|choice| match choice {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Tool { name } => json!({"type": "tool", "name": name}),
    });
    if uses_json_tool(req) {
        tools.push(json!({
            "name": JSON_TOOL,
            "description": "Give the answer as a JSON object.",
            "input_schema": {"type": "object", "additionalProperties": true},
        }));
        tool_choice = Some(json!({"type": "tool", "name": JSON_TOOL}));
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = tool_choice {
        body.insert("tool_choice".into(), choice);
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

/// Turns into user/assistant turns: tool results travel as `tool_result` blocks of a user
/// turn, and consecutive turns of one role are merged because the API wants them alternating.
fn messages(messages: &[Message]) -> Vec<Value> {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, blocks) = match m.role {
            Role::System => continue,
            Role::User => ("user", text_block(&m.content).into_iter().collect()),
            Role::Assistant => {
                let mut blocks: Vec<Value> = text_block(&m.content).into_iter().collect();
                blocks.extend(m.tool_calls.iter().map(|c| {
                    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
                }));
                ("assistant", blocks)
            }
            Role::Tool => {
                let mut block = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.as_deref().unwrap_or_default(),
                    "content": m.content,
                });
                if m.is_error {
                    block["is_error"] = json!(true);
                }
                ("user", vec![block])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    turns.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect()
}

/// The API rejects empty text blocks.
fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct WireUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Applies the counts present. Anthropic's `input_tokens` excludes cache reads and writes;
    /// ours includes them.
    pub fn apply(&self, usage: &mut Usage) {
        let plain = self.input_tokens.unwrap_or_else(|| {
            usage
                .input_tokens
                .saturating_sub(usage.cached_input_tokens)
                .saturating_sub(usage.cache_write_input_tokens)
        });
        if let Some(read) = self.cache_read_input_tokens {
            usage.cached_input_tokens = read;
        }
        if let Some(written) = self.cache_creation_input_tokens {
            usage.cache_write_input_tokens = written;
        }
        usage.input_tokens = plain + usage.cached_input_tokens + usage.cache_write_input_tokens;
        if let Some(output) = self.output_tokens {
            usage.output_tokens = output;
        }
    }
}

#[derive(Debug, Deserialize)]
struct MessageResponse {
    model: Option<String>,
    content: Vec<Value>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

pub(super) fn parse_chat(
    body: &[u8],
    req: &ChatRequest,
    mut usage: Usage,
) -> Result<ChatResponse, ProviderError> {
    let answer: MessageResponse = super::super::transport::parse_json("message", body)?;
    let json_tool = uses_json_tool(req);
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    for block in answer.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                content.push_str(block.get("text").and_then(Value::as_str).unwrap_or(""))
            }
            Some("tool_use") => {
                let name =
                    block.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                if json_tool && name == JSON_TOOL {
                    content = input.to_string();
                    continue;
                }
                let id = block.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                tool_calls.push(ToolCall { id, name, arguments: input });
            }
            // Thinking and server-tool blocks are not part of the answer text.
            _ => {}
        }
    }
    if let Some(model) = answer.model.filter(|m| !m.is_empty()) {
        usage.model = model;
    }
    answer.usage.apply(&mut usage);
    let finish = finish_reason(answer.stop_reason.as_deref(), json_tool);
    Ok(ChatResponse {
        content,
        finish_reason: settle_finish(finish, !tool_calls.is_empty()),
        tool_calls,
        usage,
    })
}

pub(super) fn finish_reason(reason: Option<&str>, json_tool: bool) -> FinishReason {
    match reason {
        Some("end_turn" | "stop_sequence") | None => FinishReason::Stop,
        // The forced JSON tool is the answer, not a call for the caller to run.
        Some("tool_use") if json_tool => FinishReason::Stop,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_string()),
    }
}

/// `{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}`
pub(super) fn error_details(body: &[u8]) -> ErrorDetails {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return ErrorDetails { message: body_snippet(body), ..ErrorDetails::default() };
    };
    let err = value.get("error").unwrap_or(&value);
    let text = |key: &str| err.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    ErrorDetails { message: text("message"), kind: text("type"), ..ErrorDetails::default() }
}

pub(super) fn parse_error(status: u16, body: &[u8]) -> ProviderError {
    classify(status, error_details(body))
}

/// An `error` event inside a stream: its type stands in for the status it would have had.
pub(super) fn stream_error(details: ErrorDetails) -> ProviderError {
    let status = match details.kind.as_str() {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    };
    classify(status, details)
}
