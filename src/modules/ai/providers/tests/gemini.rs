use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

use super::{super::*, support::*};

fn usage_metadata() -> serde_json::Value {
    json!({"promptTokenCount": 300, "candidatesTokenCount": 20, "totalTokenCount": 345,
           "cachedContentTokenCount": 256, "thoughtsTokenCount": 25})
}

#[tokio::test]
async fn chat_sends_contents_and_reads_text_calls_and_usage() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-2.5-flash:generateContent"))
        .and(header("x-goog-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{
                "content": {"role": "model", "parts": [
                    {"text": "thinking about it", "thought": true},
                    {"text": "It is mild. "},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Berlin"}}}
                ]},
                "finishReason": "STOP",
                "index": 0
            }],
            "usageMetadata": usage_metadata(),
            "modelVersion": "gemini-2.5-flash-001"
        })))
        .expect(1)
        .mount(&server)
        .await;
    // The tool result carries no name: it is found through the call id.
    let mut req = tool_conversation();
    req.messages[2].tool_name = None;
    req.tool_choice = Some(ToolChoice::Tool { name: "get_weather".into() });

    let answer = gemini(&server).chat(&req).await.unwrap();

    assert_eq!(answer.content, "It is mild. ");
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].name, "get_weather");
    assert_eq!(answer.tool_calls[0].arguments, json!({"city": "Berlin"}));
    assert!(!answer.tool_calls[0].id.is_empty(), "a call needs an id to be answered");
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.usage.model, "gemini-2.5-flash-001");
    assert_eq!(answer.usage.input_tokens, 300);
    assert_eq!(answer.usage.cached_input_tokens, 256);
    assert_eq!(answer.usage.output_tokens, 45, "thinking tokens are billed as output");
    assert_eq!(
        body_of(&server, 0).await,
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}}]}
            ],
            "systemInstruction": {"parts": [{"text": "You are terse."}]},
            "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Current weather in a city",
                                                 "parametersJsonSchema": weather_tool().parameters}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "generationConfig": {"temperature": 0.5, "maxOutputTokens": 300, "stopSequences": ["END"]}
        })
    );
}

#[tokio::test]
async fn json_mode_uses_the_response_mime_type_and_plain_results_are_wrapped() {
    let server = MockServer::start().await;
    Mock::given(path("/v1beta/models/gemini-2.5-pro:generateContent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "{\"a\":1}"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3}
        })))
        .mount(&server)
        .await;
    let call = ToolCall { id: "c1".into(), name: "lookup".into(), arguments: json!({}) };
    let req = ChatRequest {
        model: Some("models/gemini-2.5-pro".into()),
        json_mode: true,
        messages: vec![
            Message::user("Go"),
            Message::assistant_tool_calls("", vec![call]),
            Message::tool_result("c1", "lookup", "plain text result"),
        ],
        ..ChatRequest::default()
    };

    let answer = gemini(&server).chat(&req).await.unwrap();

    assert_eq!(answer.content, "{\"a\":1}");
    let body = body_of(&server, 0).await;
    assert_eq!(body["generationConfig"], json!({"responseMimeType": "application/json"}));
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"output": "plain text result"})
    );
}

#[tokio::test]
async fn streaming_reads_each_chunk_and_the_final_usage() {
    let server = MockServer::start().await;
    let chunk = |parts: serde_json::Value, finish: Option<&str>, usage: serde_json::Value| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(f) = finish {
            candidate["finishReason"] = json!(f);
        }
        json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"})
    };
    // Gemini separates events with CRLF.
    let body = sse_data(&[
        chunk(json!([{"text": "The weather"}]), None, json!({"promptTokenCount": 12})),
        chunk(json!([{"text": " in Oslo"}]), None, json!({"promptTokenCount": 12, "candidatesTokenCount": 4})),
        chunk(
            json!([{"functionCall": {"id": "fc_1", "name": "get_weather", "args": {"city": "Oslo"}}}]),
            Some("STOP"),
            json!({"promptTokenCount": 12, "candidatesTokenCount": 9, "cachedContentTokenCount": 8}),
        ),
    ])
    .replace("\n", "\r\n");
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-2.5-flash:streamGenerateContent"))
        .and(query_param("alt", "sse"))
        .and(header("x-goog-api-key", KEY))
        .respond_with(sse(body))
        .expect(1)
        .mount(&server)
        .await;

    let events = events(gemini(&server).chat_stream(&hello()).await.unwrap()).await;

    let mut usage = Usage::new("gemini", ProviderKind::Gemini, "gemini-2.5-flash");
    usage.input_tokens = 12;
    usage.output_tokens = 9;
    usage.cached_input_tokens = 8;
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta { text: "The weather".into() },
            StreamEvent::TextDelta { text: " in Oslo".into() },
            StreamEvent::ToolCall(ToolCall {
                id: "fc_1".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Oslo"})
            }),
            StreamEvent::Usage(usage),
            StreamEvent::Finish { reason: FinishReason::ToolCalls },
        ]
    );
    assert_eq!(text(&events), "The weather in Oslo");
}

#[tokio::test]
async fn a_blocked_prompt_is_content_filtered() {
    let server = MockServer::start().await;
    Mock::given(path("/v1beta/models/gemini-2.5-flash:generateContent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 8}
        })))
        .mount(&server)
        .await;

    let err = gemini(&server).chat(&hello()).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::ContentFiltered { message: "the prompt was blocked (SAFETY)".into() }
    );
}

#[tokio::test]
async fn embeddings_use_batch_embed_contents() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-embedding-001:batchEmbedContents"))
        .and(header("x-goog-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]
        })))
        .mount(&server)
        .await;
    let req = EmbedRequest {
        inputs: vec!["a".into(), "b".into()],
        dimensions: Some(2),
        ..EmbedRequest::default()
    };

    let answer = gemini(&server).embed(&req).await.unwrap();

    assert_eq!(answer.vectors, vec![vec![0.1, 0.2], vec![0.3, 0.4]]);
    assert_eq!(
        body_of(&server, 0).await,
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 2},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 2}
        ]})
    );
}

#[tokio::test]
async fn images_come_from_inline_data() {
    let server = MockServer::start().await;
    Mock::given(path("/v1beta/models/gemini-2.5-flash-image:generateContent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Here is your fox."},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
            ]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 1290}
        })))
        .mount(&server)
        .await;

    let answer = gemini(&server)
        .generate_image(&ImageRequest { prompt: "a fox".into(), ..ImageRequest::default() })
        .await
        .unwrap();

    assert_eq!(answer.images.len(), 1);
    assert_eq!(answer.images[0].data, ImageData::Base64("iVBORw0KGgo=".into()));
    assert_eq!(answer.images[0].mime_type.as_deref(), Some("image/png"));
    assert_eq!(answer.usage.output_tokens, 1290);
    assert_eq!(
        body_of(&server, 0).await["generationConfig"]["responseModalities"],
        json!(["TEXT", "IMAGE"])
    );
}

#[tokio::test]
async fn a_bad_key_is_an_auth_error_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/v1beta/models/gemini-2.5-flash:generateContent"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                         "domain": "googleapis.com"}]
        }})))
        .mount(&server)
        .await;

    let err = gemini(&server).chat(&hello()).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::Auth { message: "API key not valid. Please pass a valid API key.".into() }
    );
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn resource_exhausted_keeps_the_body_retry_delay_beyond_the_cap() {
    let server = MockServer::start().await;
    Mock::given(path("/v1beta/models/gemini-2.5-flash:generateContent"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"}]
        }})))
        .expect(1)
        .mount(&server)
        .await;

    let err = gemini(&server).chat(&hello()).await.unwrap_err();

    // 31 s asked for, more than the test's 5 ms cap: not retried early, the hint is handed on.
    assert_eq!(
        err,
        ProviderError::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(31)),
            message: "Resource has been exhausted (e.g. check quota).".into()
        }
    );
}
