use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_partial_json, header, method, path},
};

use super::{super::*, support::*};

fn completion(message: serde_json::Value, finish: &str) -> serde_json::Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 30,
            "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 64}
        }
    })
}

#[tokio::test]
async fn chat_sends_the_documented_request_and_reads_text_and_usage() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("openai-organization", "org-42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            json!({"role": "assistant", "content": "Hi there!"}),
            "stop",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let answer = openai(&server).chat(&hello()).await.unwrap();

    assert_eq!(answer.content, "Hi there!");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert!(answer.tool_calls.is_empty());
    assert_eq!(answer.usage.provider, "openai");
    assert_eq!(answer.usage.provider_kind, ProviderKind::OpenAi);
    assert_eq!(answer.usage.model, "gpt-4o-mini-2024-07-18");
    assert_eq!((answer.usage.input_tokens, answer.usage.output_tokens), (120, 30));
    assert_eq!(answer.usage.cached_input_tokens, 64);
    assert_eq!(
        body_of(&server, 0).await,
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]})
    );
}

#[tokio::test]
async fn tools_history_and_options_follow_the_chat_completions_format() {
    let server = MockServer::start().await;
    let message = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [{"id": "call_9", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Lyon\"}"}}]
    });
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(message, "tool_calls")))
        .mount(&server)
        .await;
    let mut req = tool_conversation();
    req.model = Some("gpt-4.1".into());
    req.tool_choice = Some(ToolChoice::Tool { name: "get_weather".into() });

    let answer = openai(&server).chat(&req).await.unwrap();

    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        answer.tool_calls,
        vec![ToolCall {
            id: "call_9".into(),
            name: "get_weather".into(),
            arguments: json!({"city": "Lyon"})
        }]
    );
    let body = body_of(&server, 0).await;
    assert_eq!(body["model"], "gpt-4.1");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 18}"}
        ])
    );
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(body["tools"][0]["function"]["parameters"], weather_tool().parameters);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["max_completion_tokens"], 300);
    assert_eq!(body.get("max_tokens"), None);
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body.get("stream"), None);
}

#[tokio::test]
async fn json_mode_sets_response_format_and_mentions_json() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            json!({"role": "assistant", "content": "{\"ok\":true}"}),
            "stop",
        )))
        .mount(&server)
        .await;
    let req = ChatRequest { json_mode: true, ..hello() };

    let answer = openai(&server).chat(&req).await.unwrap();

    assert_eq!(answer.content, "{\"ok\":true}");
    let body = body_of(&server, 0).await;
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    // OpenAI refuses JSON mode unless a message says "JSON".
    assert!(body["messages"][0]["content"].as_str().unwrap().contains("JSON"));
}

#[tokio::test]
async fn streaming_assembles_a_tool_call_split_across_deltas_and_reports_usage() {
    let server = MockServer::start().await;
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
        json!({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut body = sse_data(&[
        chunk(json!({"role": "assistant", "content": ""}), json!(null)),
        chunk(json!({"content": "Let me "}), json!(null)),
        chunk(json!({"content": "check."}), json!(null)),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_7", "type": "function",
                                   "function": {"name": "get_weather", "arguments": ""}}]}),
            json!(null),
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"ci"}}]}),
            json!(null),
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "ty\": \"Pa"}}]}),
            json!(null),
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "ris\"}"}}]}),
            json!(null),
        ),
        chunk(json!({}), json!("tool_calls")),
        json!({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18",
               "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 12,
                                        "prompt_tokens_details": {"cached_tokens": 32}}}),
    ]);
    body.push_str("data: [DONE]\n\n");
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"stream": true, "stream_options": {"include_usage": true}})))
        .respond_with(sse(body))
        .expect(1)
        .mount(&server)
        .await;

    let events = events(openai(&server).chat_stream(&hello()).await.unwrap()).await;

    let mut usage = Usage::new("openai", ProviderKind::OpenAi, "gpt-4o-mini-2024-07-18");
    usage.input_tokens = 50;
    usage.output_tokens = 12;
    usage.cached_input_tokens = 32;
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta { text: "Let me ".into() },
            StreamEvent::TextDelta { text: "check.".into() },
            StreamEvent::ToolCall(ToolCall {
                id: "call_7".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            }),
            StreamEvent::Usage(usage),
            StreamEvent::Finish { reason: FinishReason::ToolCalls },
        ]
    );
}

#[tokio::test]
async fn a_stream_cut_before_done_is_an_error_not_a_short_answer() {
    let server = MockServer::start().await;
    let body = sse_data(&[json!({"choices": [{"index": 0, "delta": {"content": "Half"}}]})]);
    Mock::given(path("/v1/chat/completions")).respond_with(sse(body)).mount(&server).await;

    let items = drain(openai(&server).chat_stream(&hello()).await.unwrap()).await;

    assert_eq!(items[0], Ok(StreamEvent::TextDelta { text: "Half".into() }));
    assert!(matches!(&items[1], Ok(StreamEvent::Usage(u)) if u.partial), "{items:?}");
    assert!(matches!(items[2], Err(ProviderError::Unavailable { .. })), "{items:?}");
    assert_eq!(items.len(), 3);
}

#[tokio::test]
async fn an_error_chunk_inside_the_stream_is_classified() {
    let server = MockServer::start().await;
    let body = sse_data(&[
        json!({"error": {"message": "The server had an error", "type": "server_error"}}),
    ]);
    Mock::given(path("/v1/chat/completions")).respond_with(sse(body)).mount(&server).await;

    let items = drain(openai(&server).chat_stream(&hello()).await.unwrap()).await;

    assert_eq!(
        items,
        vec![Err(ProviderError::Unavailable { message: "The server had an error".into() })]
    );
}

#[tokio::test]
async fn error_bodies_become_messages_without_the_key() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "message": format!("Incorrect API key provided: {KEY}."),
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})))
        .mount(&server)
        .await;

    let err = openai(&server).chat(&hello()).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::Auth { message: "Incorrect API key provided: [redacted].".into() }
    );
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn context_length_errors_are_recognised() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "This model's maximum context length is 128000 tokens.",
            "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})))
        .mount(&server)
        .await;

    let err = openai(&server).chat(&hello()).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::ContextTooLong {
            message: "This model's maximum context length is 128000 tokens.".into()
        }
    );
}
