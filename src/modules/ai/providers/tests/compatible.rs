use wiremock::{
    Mock, MockServer,
    matchers::{method, path},
};

use super::{super::*, support::*};

fn ollama(server: &MockServer, stream_usage: bool) -> OpenAiProvider {
    OpenAiProvider::new(
        OpenAiConfig {
            name: "ollama".into(),
            kind: ProviderKind::OpenAiCompatible,
            // People often paste the URL with `/v1`; it must not become `/v1/v1`.
            base_url: format!("{}/v1/", server.uri()),
            api_key: crate::config::Secret::default(),
            organization: String::new(),
            models: DefaultModels { chat: "llama3.1".into(), ..DefaultModels::default() },
            capabilities: OpenAiCapabilities {
                embeddings: false,
                images: false,
                stream_usage,
                max_completion_tokens: false,
            },
            options: fast(),
        },
        client(),
    )
}

#[tokio::test]
async fn compatible_endpoints_use_their_base_url_optional_key_and_flags() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(sse("data: {\"model\":\"llama3.1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"))
        .mount(&server)
        .await;
    let provider = ollama(&server, false);
    let req = ChatRequest { max_tokens: Some(64), ..hello() };

    let answer = collect(provider.chat_stream(&req).await.unwrap()).await.unwrap();
    let embed =
        provider.embed(&EmbedRequest { inputs: vec!["x".into()], ..EmbedRequest::default() }).await;

    assert_eq!(answer.content, "Hi");
    assert_eq!(answer.usage.provider, "ollama");
    assert_eq!(answer.usage.provider_kind, ProviderKind::OpenAiCompatible);
    let sent = &requests(&server).await[0];
    assert!(sent.headers.get("authorization").is_none());
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body.get("max_completion_tokens"), None);
    assert_eq!(body.get("stream_options"), None);
    assert_eq!(
        embed.unwrap_err(),
        ProviderError::Unsupported { provider: "ollama".into(), operation: "embeddings" }
    );
    assert_eq!(requests(&server).await.len(), 1, "an unsupported call must not reach the server");
}

#[tokio::test]
async fn a_server_that_closes_without_done_after_a_finish_reason_is_accepted() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(sse(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"length\"}]}\n\n",
        ))
        .mount(&server)
        .await;

    let answer = collect(ollama(&server, true).chat_stream(&hello()).await.unwrap()).await.unwrap();

    assert_eq!(answer.content, "Hi");
    assert_eq!(answer.finish_reason, FinishReason::Length);
    assert_eq!(answer.usage.model, "llama3.1", "without a model in the chunks, the requested one");
    assert_eq!(
        body_of(&server, 0).await["stream_options"],
        serde_json::json!({"include_usage": true})
    );
}
