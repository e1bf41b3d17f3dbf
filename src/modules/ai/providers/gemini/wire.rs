//! The Gemini API's JSON: `contents` of `user`/`model` turns made of parts (`text`,
//! `functionCall`, `functionResponse`, `inlineData`), `systemInstruction`, `tools`,
//! `generationConfig`, answers with `candidates` and `usageMetadata`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::{
    error::{ErrorDetails, ProviderError, classify},
    provider::{JSON_INSTRUCTION, body_snippet, settle_finish},
    types::{
        ChatRequest, ChatResponse, FinishReason, GeneratedImage, ImageData, Message, Role,
        ToolCall, ToolChoice, Usage,
    },
};

pub(super) fn chat_body(req: &ChatRequest) -> Result<Value, ProviderError> {
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents(&req.messages)?));
    // Gemini refuses a JSON response type together with function calling; then words must do.
    let json_by_mime = req.json_mode && req.tools.is_empty();
    let mut system: Vec<&str> = req.system.iter().map(String::as_str).collect();
    system
        .extend(req.messages.iter().filter(|m| m.role == Role::System).map(|m| m.content.as_str()));
    if req.json_mode && !json_by_mime {
        system.push(JSON_INSTRUCTION);
    }
    let system: Vec<&str> = system.into_iter().filter(|s| !s.is_empty()).collect();
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": [{"text": system.join("\n\n")}]}));
    }
    if !req.tools.is_empty() {
        // `parametersJsonSchema` takes JSON Schema as is; `parameters` only an OpenAPI subset.
        let declarations: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"name": t.name, "description": t.description,
                       "parametersJsonSchema": t.parameters})
            })
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": declarations}]));
    }
    if let Some(choice) = &req.tool_choice {
        let config = match choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool { name } => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        body.insert("toolConfig".into(), json!({"functionCallingConfig": config}));
    }
    let mut generation = Map::new();
    if let Some(t) = req.temperature {
        generation.insert("temperature".into(), json!(t));
    }
    if let Some(max) = req.max_tokens {
        generation.insert("maxOutputTokens".into(), json!(max));
    }
    if !req.stop.is_empty() {
        generation.insert("stopSequences".into(), json!(req.stop));
    }
    if json_by_mime {
        generation.insert("responseMimeType".into(), json!("application/json"));
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    Ok(Value::Object(body))
}

fn contents(messages: &[Message]) -> Result<Vec<Value>, ProviderError> {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for (at, m) in messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System => continue,
            Role::User => ("user", text_part(&m.content).into_iter().collect()),
            Role::Assistant => {
                let mut parts: Vec<Value> = text_part(&m.content).into_iter().collect();
                parts.extend(
                    m.tool_calls
                        .iter()
                        .map(|c| json!({"functionCall": {"name": c.name, "args": c.arguments}})),
                );
                ("model", parts)
            }
            Role::Tool => {
                let name = tool_name(messages, at)?;
                let response = function_response(&m.content, m.is_error);
                ("user", vec![json!({"functionResponse": {"name": name, "response": response}})])
            }
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    Ok(turns.into_iter().map(|(role, parts)| json!({"role": role, "parts": parts})).collect())
}

fn text_part(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"text": text}))
}

/// Gemini matches results to calls by function name: the message's own, else the name of the
/// call with this id in the nearest earlier assistant turn.
fn tool_name(messages: &[Message], at: usize) -> Result<String, ProviderError> {
    let m = &messages[at];
    if let Some(name) = m.tool_name.as_deref().filter(|n| !n.is_empty()) {
        return Ok(name.to_string());
    }
    let id = m.tool_call_id.as_deref().unwrap_or_default();
    messages[..at]
        .iter()
        .rev()
        .flat_map(|earlier| earlier.tool_calls.iter())
        .find(|call| call.id == id)
        .map(|call| call.name.clone())
        .ok_or_else(|| ProviderError::InvalidRequest {
            message: format!(
                "the tool result for call `{id}` names no tool and no earlier call has that id; \
                 set `tool_name`"
            ),
        })
}

/// `response` must be an object: JSON objects pass through, anything else is wrapped under
/// `output` (or `error` for a failure), the keys Gemini's documentation suggests.
fn function_response(content: &str, is_error: bool) -> Value {
    let value = serde_json::from_str::<Value>(content).unwrap_or_else(|_| json!(content));
    match (value, is_error) {
        (Value::Object(map), false) => Value::Object(map),
        (value, false) => json!({"output": value}),
        (value, true) => json!({"error": value}),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

impl UsageMetadata {
    /// `promptTokenCount` already includes the cached tokens; thinking is billed as output.
    pub fn apply(&self, usage: &mut Usage) {
        usage.input_tokens = self.prompt_token_count + self.tool_use_prompt_token_count;
        usage.cached_input_tokens = self.cached_content_token_count;
        usage.output_tokens = self.candidates_token_count + self.thoughts_token_count;
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateResponse {
    #[serde(default)]
    pub candidates: Option<Vec<Candidate>>,
    pub prompt_feedback: Option<PromptFeedback>,
    pub usage_metadata: Option<UsageMetadata>,
    pub model_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Candidate {
    pub content: Option<Content>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Content {
    #[serde(default)]
    pub parts: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PromptFeedback {
    pub block_reason: Option<String>,
}

/// What one response (or one stream chunk) says.
#[derive(Debug, Default)]
pub(super) struct Reading {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub images: Vec<GeneratedImage>,
    pub finish: Option<FinishReason>,
}

impl GenerateResponse {
    pub fn read(self, usage: &mut Usage) -> Result<Reading, ProviderError> {
        if let Some(model) = self.model_version.filter(|m| !m.is_empty()) {
            usage.model = model;
        }
        if let Some(meta) = &self.usage_metadata {
            meta.apply(usage);
        }
        let candidates = self.candidates.unwrap_or_default();
        if candidates.is_empty()
            && let Some(reason) = self.prompt_feedback.and_then(|f| f.block_reason)
        {
            return Err(ProviderError::ContentFiltered {
                message: format!("the prompt was blocked ({reason})"),
            });
        }
        let mut reading = Reading::default();
        let Some(candidate) = candidates.into_iter().next() else { return Ok(reading) };
        reading.finish = candidate.finish_reason.as_deref().map(finish_reason);
        for part in candidate.content.and_then(|c| c.parts).unwrap_or_default() {
            read_part(part, &mut reading);
        }
        Ok(reading)
    }
}

fn read_part(part: Value, reading: &mut Reading) {
    // Thought summaries are not part of the answer.
    if part.get("thought").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if let Some(text) = part.get("text").and_then(Value::as_str) {
        reading.text.push_str(text);
    } else if let Some(call) = part.get("functionCall") {
        let name = call.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        // Older models send no ids; callers need one to pair results with calls.
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map_or_else(|| format!("call_{}", uuid::Uuid::new_v4().simple()), str::to_string);
        let arguments = call.get("args").cloned().unwrap_or_else(|| json!({}));
        reading.tool_calls.push(ToolCall { id, name, arguments });
    } else if let Some(inline) = part.get("inlineData") {
        let text = |key: &str| inline.get(key).and_then(Value::as_str).map(str::to_string);
        if let Some(data) = text("data") {
            reading.images.push(GeneratedImage {
                data: ImageData::Base64(data),
                mime_type: text("mimeType"),
                revised_prompt: None,
            });
        }
    }
}

pub(super) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" | "FINISH_REASON_UNSPECIFIED" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

pub(super) fn parse_chat(body: &[u8], mut usage: Usage) -> Result<ChatResponse, ProviderError> {
    let answer: GenerateResponse = super::super::transport::parse_json("generateContent", body)?;
    let reading = answer.read(&mut usage)?;
    let finish = reading.finish.unwrap_or(FinishReason::Stop);
    Ok(ChatResponse {
        finish_reason: settle_finish(finish, !reading.tool_calls.is_empty()),
        content: reading.text,
        tool_calls: reading.tool_calls,
        usage,
    })
}

/// `{"error": {"code", "message", "status", "details": [ErrorInfo, RetryInfo…]}}`, sometimes
/// wrapped in an array.
pub(super) fn error_details(body: &[u8]) -> ErrorDetails {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return ErrorDetails { message: body_snippet(body), ..ErrorDetails::default() };
    };
    let value = value.as_array().and_then(|a| a.first()).unwrap_or(&value);
    let err = value.get("error").unwrap_or(value);
    let text =
        |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let details = err.get("details").and_then(Value::as_array).cloned().unwrap_or_default();
    let code =
        details.iter().map(|d| text(d, "reason")).find(|r| !r.is_empty()).unwrap_or_default();
    let retry_after = details
        .iter()
        .filter_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .find_map(|delay| delay.strip_suffix('s')?.parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok());
    ErrorDetails { message: text(err, "message"), kind: text(err, "status"), code, retry_after }
}

pub(super) fn parse_error(status: u16, body: &[u8]) -> ProviderError {
    classify(status, error_details(body))
}

/// An error object inside a stream carries its HTTP code in `error.code`.
pub(super) fn stream_error(value: &Value) -> ProviderError {
    let code = value.pointer("/error/code").and_then(Value::as_u64).unwrap_or(500);
    let status = u16::try_from(code).unwrap_or(500);
    classify(status, error_details(value.to_string().as_bytes()))
}
