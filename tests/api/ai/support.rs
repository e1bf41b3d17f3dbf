//! A fake OpenAI server in the documented wire format (SSE chat chunks and `[DONE]`,
//! embeddings), apps wired to it, and a WebSocket client.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use smartflow::{Settings, config::Secret};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message as WsMessage};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use crate::helpers::{CacheKind, TestApp, spawn_app_with};

pub const MODEL: &str = "gpt-4.1-mini";

/// One SSE body of `chat.completion.chunk`s: the tokens, a stop, the usage, `[DONE]`.
pub fn stream_body(tokens: &[&str], prompt_tokens: u64, completion_tokens: u64) -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": MODEL,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    events.extend(tokens.iter().map(|t| chunk(json!({"content": t}), Value::Null)));
    events.push(chunk(json!({}), json!("stop")));
    events.push(
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": MODEL, "choices": [],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}}),
    );
    let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

/// A streamed turn that calls one tool.
pub fn tool_call_body(id: &str, name: &str, arguments: &Value) -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": MODEL,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let events = [
        chunk(
            json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": id, "type": "function",
            "function": {"name": name, "arguments": arguments.to_string()}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": MODEL, "choices": [],
            "usage": {"prompt_tokens": 40, "completion_tokens": 8}}),
    ];
    let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

pub fn sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream")
}

/// Words that mean the same to the fake embedding model (what makes vectors find what full
/// text misses).
const SYNONYMS: &[(&str, &str)] = &[
    ("reimbursement", "refund"),
    ("repaid", "refund"),
    ("money", "refund"),
    ("terminate", "cancel"),
    ("stop", "cancel"),
    ("courier", "shipping"),
    ("parcel", "shipping"),
    ("delivery", "shipping"),
    ("passcode", "password"),
    ("login", "password"),
    ("credentials", "password"),
    ("invoice", "billing"),
    ("receipt", "billing"),
    ("charge", "billing"),
    ("holiday", "vacation"),
    ("leave", "vacation"),
    ("pto", "vacation"),
];

fn canonical(word: &str) -> String {
    let w = word.trim_end_matches('s');
    SYNONYMS
        .iter()
        .find(|(a, _)| *a == w || *a == word)
        .map_or(w.to_string(), |(_, b)| (*b).to_string())
}

/// A deterministic bag-of-words embedding in 64 dimensions.
pub fn embed_text(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; 64];
    for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2) {
        let word = canonical(word);
        let h = word
            .bytes()
            .fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
        v[(h % 64) as usize] += 1.0;
    }
    v
}

/// Answers `/v1/embeddings` with [`embed_text`] of each input.
pub struct Embedder;

impl Respond for Embedder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let inputs: Vec<String> = match &body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        };
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed_text(t)}))
            .collect();
        let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
        ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "data": data, "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
        }))
    }
}

pub async fn mount_embeddings(server: &MockServer) {
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/embeddings"))
        .respond_with(Embedder)
        .mount(server)
        .await;
}

/// Chat answers that stream `tokens`.
pub async fn mount_chat(server: &MockServer, tokens: &[&str]) {
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(sse(stream_body(tokens, 120, tokens.len() as u64)))
        .mount(server)
        .await;
}

/// An app whose OpenAI provider is `fake`, with jobs driven by the test.
pub async fn ai_app(fake: &MockServer, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let uri = fake.uri();
    spawn_app_with(CacheKind::Redis, move |s| {
        s.process.workers = false;
        s.process.cron = false;
        s.billing.default_plan = "business".into();
        s.ai.openai.api_key = Secret::new("sk-test-fake-key");
        s.ai.openai.base_url = uri;
        s.ai.openai.max_retries = 0;
        tweak(s);
    })
    .await
}

pub async fn create_agent(app: &TestApp, token: &str, configuration: Value) -> String {
    let res = app
        .post_as("/api/agents", token, &json!({"name": "Helper", "configuration": configuration}))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

pub async fn create_kb(app: &TestApp, token: &str, name: &str) -> String {
    let res = app.post_as("/api/knowledge", token, &json!({"name": name})).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

/// Adds a document and runs the ingest job; returns the document as stored.
pub async fn add_document(app: &TestApp, token: &str, kb: &str, body: Value) -> Value {
    let res = app.post_as(&format!("/api/knowledge/{kb}/documents"), token, &body).await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    app.run_jobs().await;
    app.get_as(&format!("/api/knowledge/{kb}/documents/{id}"), token).await.json().await.unwrap()
}

pub async fn search(app: &TestApp, token: &str, kb: &str, query: &str, top_k: usize) -> Value {
    let res = app
        .post_as(
            &format!("/api/knowledge/{kb}/search"),
            token,
            &json!({"query": query, "top_k": top_k}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(address: &str, query: &str) -> Socket {
    let url = format!("{}/ws/chat{query}", address.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url).await.expect("websocket connects").0
}

pub async fn send(ws: &mut Socket, value: Value) {
    ws.send(WsMessage::Text(value.to_string().into())).await.expect("send");
}

/// The next JSON message (control frames are answered by the client library). The timeout
/// only turns a hang into a failure; nothing waits on it.
pub async fn next(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message within 20 s")
            .expect("socket open")
            .expect("valid frame");
        if let WsMessage::Text(text) = msg {
            return serde_json::from_str(&text).expect("JSON message");
        }
    }
}

/// Messages until one of type `kind`.
pub async fn until(ws: &mut Socket, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let m = next(ws).await;
        let done = m["type"] == kind;
        seen.push(m);
        if done {
            return seen;
        }
    }
}

/// A fake OpenAI chat endpoint that streams the first `held_after` tokens of each answer, then
/// holds the stream open until [`GatedChat::release`]: a job that is still running.
pub struct GatedChat {
    pub uri: String,
    release: std::sync::Arc<tokio::sync::Semaphore>,
    /// Bodies of the requests received, in order.
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl GatedChat {
    pub async fn start(tokens: &'static [&'static str], held_after: usize) -> GatedChat {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        let gate = release.clone();
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen_bodies = bodies.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let gate = gate.clone();
                let seen_bodies = seen_bodies.clone();
                tokio::spawn(async move {
                    let body = read_request(&mut socket).await;
                    seen_bodies
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap_or_default());
                    let body = stream_body(tokens, 120, tokens.len() as u64);
                    let events: Vec<&str> = body.split_inclusive("\n\n").collect();
                    // The role chunk and the first tokens, then the rest once released.
                    let (first, rest) = events.split_at((held_after + 1).min(events.len()));
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                                transfer-encoding: chunked\r\n\r\n";
                    let chunk = |s: String| format!("{:x}\r\n{s}\r\n", s.len());
                    let mut out = head.to_string();
                    out.push_str(&chunk(first.concat()));
                    if socket.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                    let _ = socket.flush().await;
                    let Ok(permit) = gate.acquire().await else { return };
                    permit.forget();
                    let tail = format!("{}0\r\n\r\n", chunk(rest.concat()));
                    let _ = socket.write_all(tail.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });

        async fn read_request(socket: &mut tokio::net::TcpStream) -> Vec<u8> {
            let mut buffer = vec![0u8; 64 * 1024];
            let mut seen = Vec::new();
            loop {
                let n = match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => return Vec::new(),
                    Ok(n) => n,
                };
                seen.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&seen).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .and_then(|v| v.trim().parse::<usize>().ok())
                        })
                        .unwrap_or(0);
                    if seen.len() >= end + 4 + length {
                        return seen[end + 4..end + 4 + length].to_vec();
                    }
                }
            }
        }
        GatedChat { uri, release, bodies }
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Lets one held answer finish.
    pub fn release(&self) {
        self.release.add_permits(1);
    }
}

/// An app like [`ai_app`] whose OpenAI provider is a [`GatedChat`].
pub async fn gated_app(chat: &GatedChat, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let uri = chat.uri.clone();
    spawn_app_with(CacheKind::Redis, move |s| {
        s.process.workers = false;
        s.process.cron = false;
        s.billing.default_plan = "business".into();
        s.ai.openai.api_key = Secret::new("sk-test-fake-key");
        s.ai.openai.base_url = uri;
        s.ai.openai.max_retries = 0;
        tweak(s);
    })
    .await
}

/// Runs the app's due jobs on a task of its own (a worker), so the test can act meanwhile.
pub fn run_jobs_in_background(app: &TestApp) -> tokio::task::JoinHandle<usize> {
    let state = app.state.clone();
    tokio::spawn(async move {
        smartflow::platform::jobs::run_pending(&state, &smartflow::platform::job_registry())
            .await
            .expect("jobs ran")
    })
}

/// Polls `check` until it holds; the deadline only turns a hang into a failure.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A second instance on the same database, serving sockets only; `tweak` may change its cache.
pub async fn second_instance(
    app: &TestApp,
    tweak: impl FnOnce(&mut Settings),
) -> (String, smartflow::app::ShutdownHandle) {
    let mut other = app.settings.clone();
    other.process.workers = false;
    other.process.cron = false;
    tweak(&mut other);
    let instance = smartflow::Application::build(other).await.unwrap();
    let address = format!("http://127.0.0.1:{}", instance.port());
    let stop = instance.shutdown_handle();
    tokio::spawn(instance.run_until_stopped());
    (address, stop)
}
