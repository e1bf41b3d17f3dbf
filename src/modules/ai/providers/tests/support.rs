use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

use super::super::*;

pub const KEY: &str = "sk-test-key-123";

pub fn client() -> reqwest::Client {
    crate::app::install_crypto_provider();
    reqwest::Client::new()
}

/// Retries that cost milliseconds, so tests stay fast without changing what is retried.
pub fn fast() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(10),
        stream_idle_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
    }
}

fn models(chat: &str, embedding: &str, image: &str) -> DefaultModels {
    DefaultModels { chat: chat.into(), embedding: embedding.into(), image: image.into() }
}

pub fn openai_config(server: &MockServer) -> OpenAiConfig {
    OpenAiConfig {
        name: "openai".into(),
        kind: ProviderKind::OpenAi,
        base_url: server.uri(),
        api_key: crate::config::Secret::new(KEY),
        organization: "org-42".into(),
        models: models("gpt-4o-mini", "text-embedding-3-small", "gpt-image-1"),
        capabilities: OpenAiCapabilities::OPENAI,
        options: fast(),
    }
}

pub fn openai(server: &MockServer) -> OpenAiProvider {
    OpenAiProvider::new(openai_config(server), client())
}

pub fn anthropic(server: &MockServer) -> AnthropicProvider {
    anthropic_with(server, fast())
}

pub fn anthropic_with(server: &MockServer, options: ClientOptions) -> AnthropicProvider {
    AnthropicProvider::new(
        AnthropicConfig {
            name: "anthropic".into(),
            base_url: server.uri(),
            api_key: crate::config::Secret::new(KEY),
            models: models("claude-sonnet-4-5", "", ""),
            options,
        },
        client(),
    )
}

pub fn gemini(server: &MockServer) -> GeminiProvider {
    gemini_with(server, fast())
}

pub fn gemini_with(server: &MockServer, options: ClientOptions) -> GeminiProvider {
    GeminiProvider::new(
        GeminiConfig {
            name: "gemini".into(),
            base_url: server.uri(),
            api_key: crate::config::Secret::new(KEY),
            models: models("gemini-2.5-flash", "gemini-embedding-001", "gemini-2.5-flash-image"),
            options,
        },
        client(),
    )
}

/// An OpenAI-compatible server (as Ollama), without a key.
pub fn compatible_with(server: &MockServer, options: ClientOptions) -> OpenAiProvider {
    OpenAiProvider::new(
        OpenAiConfig {
            name: "ollama".into(),
            kind: ProviderKind::OpenAiCompatible,
            base_url: server.uri(),
            api_key: crate::config::Secret::default(),
            organization: String::new(),
            models: DefaultModels { chat: "llama3.1".into(), ..DefaultModels::default() },
            capabilities: OpenAiCapabilities {
                embeddings: false,
                images: false,
                stream_usage: true,
                max_completion_tokens: false,
            },
            options,
        },
        client(),
    )
}

/// An SSE body: one `data:` event per item.
pub fn sse_data(chunks: &[Value]) -> String {
    chunks.iter().map(|c| format!("data: {c}\n\n")).collect()
}

pub fn sse(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into().into_bytes(), "text/event-stream")
}

pub async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

pub async fn body_of(server: &MockServer, at: usize) -> Value {
    let requests = requests(server).await;
    serde_json::from_slice(&requests[at].body).unwrap()
}

/// Every item of a stream, errors included.
pub async fn drain(stream: ChatStream) -> Vec<Result<StreamEvent, ProviderError>> {
    stream.collect().await
}

/// Every item of a stream that must not fail.
pub async fn events(stream: ChatStream) -> Vec<StreamEvent> {
    drain(stream).await.into_iter().map(|e| e.unwrap()).collect()
}

pub fn text(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

pub fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "Current weather in a city".into(),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": false
        }),
    }
}

pub fn hello() -> ChatRequest {
    ChatRequest::new(vec![Message::user("Hello")])
}

/// A conversation that went through one tool call.
pub fn tool_conversation() -> ChatRequest {
    let call = ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: json!({"city": "Paris"}),
    };
    ChatRequest {
        system: Some("You are terse.".into()),
        messages: vec![
            Message::user("Weather in Paris?"),
            Message::assistant_tool_calls("", vec![call]),
            Message::tool_result("call_1", "get_weather", r#"{"temp_c": 18}"#),
        ],
        tools: vec![weather_tool()],
        tool_choice: Some(ToolChoice::Auto),
        temperature: Some(0.5),
        max_tokens: Some(300),
        stop: vec!["END".into()],
        ..ChatRequest::default()
    }
}
