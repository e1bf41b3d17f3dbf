use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};

use super::{super::*, support::*};

fn anthropic_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "from anthropic"}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 2}
    }))
}

async fn openai_failing(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_json(json!({"error": {"message": "nope", "type": "x"}})),
        )
        .mount(&server)
        .await;
    server
}

async fn anthropic_answering() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/v1/messages")).respond_with(anthropic_ok()).mount(&server).await;
    server
}

fn chain(first: &MockServer, second: &MockServer) -> FallbackChain {
    FallbackChain::new("fallback", vec![Arc::new(openai(first)), Arc::new(anthropic(second))])
}

#[tokio::test]
async fn an_unavailable_provider_falls_back_to_the_next_after_its_retries() {
    let (first, second) = (openai_failing(503).await, anthropic_answering().await);
    let req = ChatRequest { model: Some("gpt-4o".into()), ..hello() };

    let answer = chain(&first, &second).chat(&req).await.unwrap();

    assert_eq!(answer.content, "from anthropic");
    assert_eq!(answer.usage.provider, "anthropic");
    assert_eq!(answer.usage.provider_kind, ProviderKind::Anthropic);
    assert_eq!(requests(&first).await.len(), 3, "the first provider used its own retries");
    assert_eq!(requests(&second).await.len(), 1);
    assert_eq!(body_of(&first, 0).await["model"], "gpt-4o");
    // An OpenAI model name means nothing to Anthropic: its default is used.
    assert_eq!(body_of(&second, 0).await["model"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn rejected_credentials_fall_back() {
    let (first, second) = (openai_failing(401).await, anthropic_answering().await);

    let answer = chain(&first, &second).chat(&hello()).await.unwrap();

    assert_eq!(answer.usage.provider, "anthropic");
    assert_eq!(requests(&first).await.len(), 1);
}

#[tokio::test]
async fn an_invalid_request_does_not_fall_back() {
    let (first, second) = (openai_failing(400).await, anthropic_answering().await);

    let err = chain(&first, &second).chat(&hello()).await.unwrap_err();

    assert_eq!(err, ProviderError::InvalidRequest { message: "nope".into() });
    assert!(requests(&second).await.is_empty());
}

#[tokio::test]
async fn the_last_providers_error_is_returned_when_all_fail() {
    let first = openai_failing(503).await;
    let second = MockServer::start().await;
    Mock::given(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(529).set_body_json(json!(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})))
        .mount(&second)
        .await;

    let err = chain(&first, &second).chat(&hello()).await.unwrap_err();

    assert_eq!(err, ProviderError::Unavailable { message: "Overloaded".into() });
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_event_falls_back() {
    let first = openai_failing(503).await;
    let second = MockServer::start().await;
    let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":2,\"output_tokens\":1}}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    Mock::given(path("/v1/messages")).respond_with(sse(body)).mount(&second).await;

    let answer =
        collect(chain(&first, &second).chat_stream(&hello()).await.unwrap()).await.unwrap();

    assert_eq!(answer.content, "hi");
    assert_eq!(answer.usage.provider, "anthropic");
    assert_eq!(answer.usage.output_tokens, 3);
}

/// A provider whose stream is scripted, counting how often it is asked.
struct Scripted {
    name: &'static str,
    items: Vec<Result<StreamEvent, ProviderError>>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(name: &'static str, items: Vec<Result<StreamEvent, ProviderError>>) -> Arc<Self> {
        Arc::new(Scripted { name, items, calls: AtomicUsize::new(0) })
    }
}

#[async_trait]
impl LlmProvider for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::OpenAiCompatible
    }

    fn targets(&self, _operation: Operation, _model: Option<&str>) -> Vec<CallTarget> {
        Vec::new()
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        collect(self.chat_stream(req).await?).await
    }

    async fn chat_stream(&self, _req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(futures_util::stream::iter(self.items.clone()).boxed())
    }
}

fn complete(name: &str, text: &str) -> Vec<Result<StreamEvent, ProviderError>> {
    vec![
        Ok(StreamEvent::TextDelta { text: text.into() }),
        Ok(StreamEvent::Usage(Usage::new(name, ProviderKind::OpenAiCompatible, "m"))),
        Ok(StreamEvent::Finish { reason: FinishReason::Stop }),
    ]
}

#[tokio::test]
async fn a_stream_that_fails_after_emitting_does_not_fall_back() {
    let first = Scripted::new(
        "first",
        vec![Ok(StreamEvent::TextDelta { text: "Bon".into() }), Err(ProviderError::Timeout)],
    );
    let second = Scripted::new("second", complete("second", "Hello"));
    let chain = FallbackChain::new("fallback", vec![first.clone(), second.clone()]);

    let items: Vec<_> = chain.chat_stream(&hello()).await.unwrap().collect().await;

    assert_eq!(
        items,
        vec![Ok(StreamEvent::TextDelta { text: "Bon".into() }), Err(ProviderError::Timeout)]
    );
    assert_eq!(second.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_stream_whose_first_item_is_an_error_falls_back() {
    let first =
        Scripted::new("first", vec![Err(ProviderError::Unavailable { message: "down".into() })]);
    let second = Scripted::new("second", complete("second", "Hello"));
    let chain = FallbackChain::new("fallback", vec![first.clone(), second.clone()]);

    let answer = collect(chain.chat_stream(&hello()).await.unwrap()).await.unwrap();

    assert_eq!(answer.content, "Hello");
    assert_eq!(answer.usage.provider, "second");
    assert_eq!(first.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn embeddings_skip_providers_without_them_but_never_fall_back_on_errors() {
    let anthropic_server = MockServer::start().await;
    let openai_server = MockServer::start().await;
    Mock::given(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&openai_server)
        .await;
    let gemini_server = MockServer::start().await;
    let chain = FallbackChain::new(
        "fallback",
        vec![
            Arc::new(anthropic(&anthropic_server)),
            Arc::new(openai(&openai_server)),
            Arc::new(gemini(&gemini_server)),
        ],
    );

    let err = chain
        .embed(&EmbedRequest { inputs: vec!["x".into()], ..EmbedRequest::default() })
        .await
        .unwrap_err();

    assert!(matches!(err, ProviderError::Unavailable { .. }), "{err:?}");
    assert_eq!(requests(&openai_server).await.len(), 3);
    assert!(requests(&gemini_server).await.is_empty(), "vectors must all come from one model");
    assert_eq!(chain.kind(), ProviderKind::Fallback);
}
