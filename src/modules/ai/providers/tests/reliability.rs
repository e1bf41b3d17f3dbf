use std::time::Duration;

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::oneshot,
};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};

use super::{super::*, support::*};

fn ok_completion() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}
    }))
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Invalid value for 'temperature'.", "type": "invalid_request_error",
            "param": "temperature", "code": "invalid_value"}})))
        .mount(&server)
        .await;
    Mock::given(path("/v1/chat/completions")).respond_with(ok_completion()).mount(&server).await;

    let err = openai(&server).chat(&hello()).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::InvalidRequest { message: "Invalid value for 'temperature'.".into() }
    );
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn retries_stop_after_the_configured_attempts() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>upstream down</html>"))
        .mount(&server)
        .await;

    let err = openai(&server).chat(&hello()).await.unwrap_err();

    assert_eq!(err, ProviderError::Unavailable { message: "<html>upstream down</html>".into() });
    assert_eq!(requests(&server).await.len(), 3, "one attempt and max_retries = 2 retries");
}

#[tokio::test]
async fn a_used_up_quota_is_not_retried_although_it_is_a_429() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {
            "message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"}})))
        .mount(&server)
        .await;

    let err = openai(&server).chat(&hello()).await.unwrap_err();

    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn a_stream_is_retried_while_it_has_not_started() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(sse("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"))
        .mount(&server)
        .await;

    let answer = collect(openai(&server).chat_stream(&hello()).await.unwrap()).await.unwrap();

    assert_eq!(answer.content, "ok");
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_after_retries() {
    // A port that was just free and is now closed refuses connections.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let mut config = openai_config(&MockServer::start().await);
    config.base_url = format!("http://{address}");

    let err = OpenAiProvider::new(config, client()).chat(&hello()).await.unwrap_err();

    assert!(
        matches!(&err, ProviderError::Unavailable { message } if message.starts_with("could not connect")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ok_completion().set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let mut config = openai_config(&server);
    config.options.timeout = Duration::from_millis(200);

    let err = OpenAiProvider::new(config, client()).chat(&hello()).await.unwrap_err();

    assert_eq!(err, ProviderError::Timeout);
    assert_eq!(requests(&server).await.len(), 1);
}

/// A server that sends the response head and one SSE chunk, then stays silent until released.
async fn silent_after_first_chunk() -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (release, released) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut seen = Vec::new();
        // Read the request head and its body (Content-Length) before answering.
        loop {
            let n = socket.read(&mut buffer).await.unwrap();
            seen.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&seen).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let chunk = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
            chunk.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        let _ = released.await;
    });
    (format!("http://{address}"), release)
}

#[tokio::test]
async fn a_stream_that_goes_quiet_ends_with_a_timeout() {
    let (base_url, release) = silent_after_first_chunk().await;
    let mut config = openai_config(&MockServer::start().await);
    config.base_url = base_url;
    config.options.stream_idle_timeout = Duration::from_millis(200);

    let items =
        drain(OpenAiProvider::new(config, client()).chat_stream(&hello()).await.unwrap()).await;
    drop(release);

    // What the provider reported before it went quiet (nothing yet), marked partial: the
    // tokens were spent all the same.
    let partial =
        Usage { partial: true, ..Usage::new("openai", ProviderKind::OpenAi, "gpt-4o-mini") };
    assert_eq!(
        items,
        vec![
            Ok(StreamEvent::TextDelta { text: "Hel".into() }),
            Ok(StreamEvent::Usage(partial)),
            Err(ProviderError::Timeout)
        ]
    );
}
