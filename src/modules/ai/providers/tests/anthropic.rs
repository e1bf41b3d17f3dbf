use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

use super::{super::*, support::*};

fn message(content: serde_json::Value, stop: &str) -> serde_json::Value {
    json!({
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": {
            "input_tokens": 40,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 1000,
            "output_tokens": 25
        }
    })
}

/// SSE with the `event:` line Anthropic sends before each `data:` line.
fn events_body(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn chat_sends_a_messages_request_and_reads_blocks_and_cache_usage() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(message(
            json!([
                {"type": "text", "text": "Checking the weather."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Nice"}}
            ]),
            "tool_use",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let mut req = tool_conversation();
    req.tool_choice = Some(ToolChoice::Required);

    let answer = anthropic(&server).chat(&req).await.unwrap();

    assert_eq!(answer.content, "Checking the weather.");
    assert_eq!(
        answer.tool_calls,
        vec![ToolCall {
            id: "toolu_01".into(),
            name: "get_weather".into(),
            arguments: json!({"city": "Nice"})
        }]
    );
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.usage.model, "claude-sonnet-4-5-20250929");
    // Anthropic reports cache reads and writes beside `input_tokens`; ours counts all of them.
    assert_eq!(answer.usage.input_tokens, 1140);
    assert_eq!(answer.usage.cached_input_tokens, 1000);
    assert_eq!(answer.usage.cache_write_input_tokens, 100);
    assert_eq!(answer.usage.output_tokens, 25);
    assert_eq!(
        body_of(&server, 0).await,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 300,
            "system": "You are terse.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "{\"temp_c\": 18}"}]}
            ],
            "temperature": 0.5,
            "stop_sequences": ["END"],
            "tools": [{"name": "get_weather", "description": "Current weather in a city",
                       "input_schema": weather_tool().parameters}],
            "tool_choice": {"type": "any"}
        })
    );
}

#[tokio::test]
async fn consecutive_tool_results_share_one_user_turn_and_max_tokens_defaults() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/messages"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(message(json!([{"type": "text", "text": "ok"}]), "end_turn")),
        )
        .mount(&server)
        .await;
    let calls = vec![
        ToolCall { id: "a".into(), name: "get_weather".into(), arguments: json!({"city": "Oslo"}) },
        ToolCall { id: "b".into(), name: "get_weather".into(), arguments: json!({"city": "Rome"}) },
    ];
    let req = ChatRequest::new(vec![
        Message::system("Be brief."),
        Message::user("Two cities?"),
        Message::assistant_tool_calls("", calls),
        Message::tool_result("a", "get_weather", "5C"),
        Message::tool_error("b", "get_weather", "service down"),
    ]);

    anthropic(&server).chat(&req).await.unwrap();

    let body = body_of(&server, 0).await;
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(
        body["messages"][2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": "5C"},
            {"type": "tool_result", "tool_use_id": "b", "content": "service down", "is_error": true}
        ]})
    );
    assert_eq!(body["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn streaming_reads_every_event_type_and_assembles_input_json() {
    let server = MockServer::start().await;
    let body = events_body(&[
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null,
            "usage": {"input_tokens": 25, "cache_read_input_tokens": 200, "cache_creation_input_tokens": 0, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "look."}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block":
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"San"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": " Francisco\"}"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"output_tokens": 89}}),
        json!({"type": "message_stop"}),
    ]);
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(sse(body))
        .mount(&server)
        .await;

    let events = events(anthropic(&server).chat_stream(&hello()).await.unwrap()).await;

    let mut usage = Usage::new("anthropic", ProviderKind::Anthropic, "claude-sonnet-4-5-20250929");
    usage.input_tokens = 225;
    usage.cached_input_tokens = 200;
    usage.output_tokens = 89;
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta { text: "Let me ".into() },
            StreamEvent::TextDelta { text: "look.".into() },
            StreamEvent::ToolCall(ToolCall {
                id: "toolu_9".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "San Francisco"}),
            }),
            StreamEvent::Usage(usage),
            StreamEvent::Finish { reason: FinishReason::ToolCalls },
        ]
    );
    assert_eq!(body_of(&server, 0).await["stream"], true);
}

#[tokio::test]
async fn json_mode_forces_a_tool_whose_input_is_the_answer() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(message(
            json!([{"type": "tool_use", "id": "toolu_j", "name": "json_response", "input": {"name": "Ada", "age": 36}}]),
            "tool_use",
        )))
        .mount(&server)
        .await;
    let req = ChatRequest { json_mode: true, ..hello() };

    let answer = anthropic(&server).chat(&req).await.unwrap();

    let parsed: serde_json::Value = serde_json::from_str(&answer.content).unwrap();
    assert_eq!(parsed, json!({"name": "Ada", "age": 36}));
    assert!(answer.tool_calls.is_empty());
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    let body = body_of(&server, 0).await;
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "json_response"}));
    assert_eq!(body["tools"][0]["name"], "json_response");
    // No prefilled assistant turn: newer models reject it.
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn json_mode_streams_the_forced_tool_input_as_text() {
    let server = MockServer::start().await;
    let body = events_body(&[
        json!({"type": "message_start", "message": {"model": "claude-haiku-4-5", "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block":
            {"type": "tool_use", "id": "toolu_j", "name": "json_response", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"ok\""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ": true}"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
        json!({"type": "message_stop"}),
    ]);
    Mock::given(path("/v1/messages")).respond_with(sse(body)).mount(&server).await;
    let req = ChatRequest { json_mode: true, ..hello() };

    let answer = collect(anthropic(&server).chat_stream(&req).await.unwrap()).await.unwrap();

    assert_eq!(answer.content, "{\"ok\": true}");
    assert!(answer.tool_calls.is_empty());
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert_eq!((answer.usage.input_tokens, answer.usage.output_tokens), (10, 7));
}

#[tokio::test]
async fn an_error_event_ends_the_stream_with_its_classification() {
    let server = MockServer::start().await;
    let body = events_body(&[
        json!({"type": "message_start", "message": {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}}),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]);
    Mock::given(path("/v1/messages")).respond_with(sse(body)).mount(&server).await;

    let items = drain(anthropic(&server).chat_stream(&hello()).await.unwrap()).await;

    // The usage reported before the failure, marked partial, so the spent tokens are counted.
    let mut partial = Usage::new("anthropic", ProviderKind::Anthropic, "claude-sonnet-4-5");
    (partial.input_tokens, partial.output_tokens, partial.partial) = (3, 1, true);
    assert_eq!(
        items,
        vec![
            Ok(StreamEvent::TextDelta { text: "Par".into() }),
            Ok(StreamEvent::Usage(partial)),
            Err(ProviderError::Unavailable { message: "Overloaded".into() }),
        ]
    );
}

#[tokio::test]
async fn error_bodies_are_parsed_and_overload_is_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(529).set_body_json(json!(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!(
            {"type": "error", "error": {"type": "invalid_request_error", "message": "messages: at least one message is required"}})))
        .mount(&server)
        .await;

    let err = anthropic(&server).chat(&hello()).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::InvalidRequest {
            message: "messages: at least one message is required".into()
        }
    );
    assert_eq!(requests(&server).await.len(), 2, "the 529 is retried, the 400 is not");
}

#[tokio::test]
async fn anthropic_has_no_embeddings_or_images() {
    let server = MockServer::start().await;
    let provider = anthropic(&server);

    let embed =
        provider.embed(&EmbedRequest { inputs: vec!["x".into()], ..EmbedRequest::default() }).await;
    let image = provider
        .generate_image(&ImageRequest { prompt: "x".into(), ..ImageRequest::default() })
        .await;

    assert_eq!(
        embed.unwrap_err(),
        ProviderError::Unsupported { provider: "anthropic".into(), operation: "embeddings" }
    );
    assert!(matches!(image, Err(ProviderError::Unsupported { operation: "image generation", .. })));
    assert!(requests(&server).await.is_empty());
}
