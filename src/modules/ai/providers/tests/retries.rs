//! Every provider against its fake, in its own wire format: a 429 with `Retry-After` then
//! success, a 500 then success, and a 429 asking for longer than the retry cap, which is not
//! retried early but handed back with its hint.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};

use super::{super::*, support::*};

struct Fake {
    name: &'static str,
    path: &'static str,
    ok: Value,
    error: Value,
    build: fn(&MockServer, ClientOptions) -> Arc<dyn LlmProvider>,
}

fn fakes() -> Vec<Fake> {
    let openai_ok = json!({
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}
    });
    let openai_error = json!({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}});
    vec![
        Fake {
            name: "openai",
            path: "/v1/chat/completions",
            ok: openai_ok.clone(),
            error: openai_error.clone(),
            build: |s, o| {
                let mut config = openai_config(s);
                config.options = o;
                Arc::new(OpenAiProvider::new(config, client()))
            },
        },
        Fake {
            name: "anthropic",
            path: "/v1/messages",
            ok: json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "fine"}], "stop_reason": "end_turn",
                "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}
            }),
            error: json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
            build: |s, o| Arc::new(anthropic_with(s, o)),
        },
        Fake {
            name: "gemini",
            path: "/v1beta/models/gemini-2.5-flash:generateContent",
            ok: json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text": "fine"}]},
                    "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
                "modelVersion": "gemini-2.5-flash"
            }),
            error: json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}),
            build: |s, o| Arc::new(gemini_with(s, o)),
        },
        Fake {
            name: "ollama",
            path: "/v1/chat/completions",
            ok: openai_ok,
            error: openai_error,
            build: |s, o| Arc::new(compatible_with(s, o)),
        },
    ]
}

/// Mounts `first` for one request, then success.
async fn failing_once(fake: &Fake, first: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path(fake.path)).respond_with(first).up_to_n_times(1).mount(&server).await;
    Mock::given(path(fake.path))
        .respond_with(ResponseTemplate::new(200).set_body_json(&fake.ok))
        .mount(&server)
        .await;
    server
}

/// Backoff so long that a retry which ignored the provider's hint would never come back.
fn patient() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_secs(3_600),
            max_delay: Duration::from_secs(7_200),
        },
        ..fast()
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_when_the_provider_says_then_succeeds() {
    for fake in fakes() {
        let server = failing_once(
            &fake,
            ResponseTemplate::new(429).insert_header("retry-after", "0").set_body_json(&fake.error),
        )
        .await;
        let provider = (fake.build)(&server, patient());

        // The deadline only turns a hang (the hour-long backoff) into a failure.
        let answer = tokio::time::timeout(Duration::from_secs(20), provider.chat(&hello()))
            .await
            .unwrap_or_else(|_| panic!("{}: the retry did not follow Retry-After", fake.name))
            .unwrap_or_else(|e| panic!("{}: {e}", fake.name));

        assert_eq!(answer.content, "fine", "{}", fake.name);
        assert_eq!(requests(&server).await.len(), 2, "{}", fake.name);
    }
}

#[tokio::test]
async fn a_500_is_retried_then_succeeds() {
    for fake in fakes() {
        let server = failing_once(
            &fake,
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"message": "internal", "code": 500}})),
        )
        .await;

        let answer = (fake.build)(&server, fast()).chat(&hello()).await;

        assert_eq!(answer.map(|a| a.content), Ok("fine".into()), "{}", fake.name);
        assert_eq!(requests(&server).await.len(), 2, "{}", fake.name);
    }
}

#[tokio::test]
async fn a_429_asking_for_longer_than_the_cap_is_not_retried_and_keeps_its_hint() {
    for fake in fakes() {
        let server = failing_once(
            &fake,
            ResponseTemplate::new(429)
                .insert_header("retry-after", "120")
                .set_body_json(&fake.error),
        )
        .await;

        let err = (fake.build)(&server, fast()).chat(&hello()).await.unwrap_err();

        assert!(
            matches!(&err, ProviderError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_secs(120)),
            "{}: {err:?}",
            fake.name
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
        assert_eq!(requests(&server).await.len(), 1, "{}: no early retry", fake.name);
    }
}

#[tokio::test]
async fn a_long_hint_moves_the_fallback_chain_to_the_next_provider() {
    let fakes = fakes();
    let limited = failing_once(
        &fakes[0],
        ResponseTemplate::new(429)
            .insert_header("retry-after", "120")
            .set_body_json(&fakes[0].error),
    )
    .await;
    let next =
        failing_once(&fakes[1], ResponseTemplate::new(200).set_body_json(&fakes[1].ok)).await;
    let chain = FallbackChain::new(
        "test",
        vec![(fakes[0].build)(&limited, fast()), (fakes[1].build)(&next, fast())],
    );

    let answer = chain.chat(&hello()).await.unwrap();

    assert_eq!(answer.usage.provider, "anthropic");
    assert_eq!(requests(&limited).await.len(), 1);
}
