//! `GET /ws/events`: a workspace's events, live, over a WebSocket (through Redis pub/sub).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};

use crate::helpers::{CacheKind, TestApp, TestUser, spawn_app_with};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn app() -> TestApp {
    spawn_app_with(CacheKind::Redis, |s| {
        s.process.workers = false;
        s.process.cron = false;
    })
    .await
}

fn url(app: &TestApp) -> String {
    app.address.replace("http://", "ws://") + "/ws/events"
}

/// The next JSON text frame. The timeout only turns a hang into a failure.
async fn next(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message within 20 s")
            .expect("socket open")
            .expect("valid frame");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).expect("JSON message");
        }
    }
}

async fn send(ws: &mut Socket, value: Value) {
    ws.send(Message::Text(value.to_string().into())).await.expect("send");
}

/// Frames up to and including the first event of `kind`.
async fn until(ws: &mut Socket, kind: &str) -> Vec<Value> {
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

async fn create_key(app: &TestApp, user: &TestUser, name: &str) {
    let res = app.post_as("/api/api-keys", &user.token, &json!({ "name": name })).await;
    assert_eq!(res.status(), 201);
    app.run_jobs().await;
}

#[tokio::test]
async fn a_workspace_socket_receives_its_events_and_no_others() {
    let app = app().await;
    let a = app.signup("a@example.com").await;
    let b = app.signup("b@example.com").await;
    // A with the query token, B with the header.
    let (mut ws_a, _) =
        tokio_tungstenite::connect_async(format!("{}?access_token={}", url(&app), a.token))
            .await
            .unwrap();
    let mut req = url(&app).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {}", b.token).parse().unwrap());
    let (mut ws_b, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let ready = next(&mut ws_a).await;
    assert_eq!(
        (ready["type"].as_str(), ready["workspace_id"].as_str()),
        (Some("ready"), Some(a.workspace_id.as_str()))
    );
    assert_eq!(next(&mut ws_b).await["type"], "ready");

    create_key(&app, &a, "key-of-a").await;
    let event = until(&mut ws_a, "api_key.created").await.pop().unwrap();
    assert_eq!(event["data"]["name"], "key-of-a");
    assert_eq!(event["subject"]["type"], "api_key");
    assert!(event["id"].is_i64() && event["created_at"].is_string(), "{event}");
    let stored: i64 = sqlx::query_scalar(
        "select id from smartflow_shared.events where event_type = 'api_key.created' \
         and workspace_id = $1::uuid",
    )
    .bind(&a.workspace_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(event["id"], stored);

    // B's own event comes after A's was published: had A's reached B, it would come first.
    create_key(&app, &b, "key-of-b").await;
    let seen = until(&mut ws_b, "api_key.created").await;
    assert_eq!(seen.last().unwrap()["data"]["name"], "key-of-b");
    for frame in &seen {
        assert_eq!(frame["workspace_id"], b.workspace_id.as_str(), "{frame}");
        assert_ne!(frame["id"], stored);
    }
}

#[tokio::test]
async fn the_event_socket_authenticates_like_every_socket() {
    let app = app().await;
    let alice = app.signup("alice@example.com").await;
    let err = tokio_tungstenite::connect_async(format!("{}?access_token=nonsense", url(&app)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    let mut req = url(&app).into_client_request().unwrap();
    req.headers_mut().insert("cookie", alice.session_cookie.parse().unwrap());
    req.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    let mut req = url(&app).into_client_request().unwrap();
    req.headers_mut().insert("cookie", alice.session_cookie.parse().unwrap());
    let (mut by_cookie, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(next(&mut by_cookie).await["type"], "ready");

    // Without credentials: nothing until a first `auth` message.
    let (mut anonymous, _) = tokio_tungstenite::connect_async(url(&app)).await.unwrap();
    send(&mut anonymous, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut anonymous).await, json!({ "type": "pong" }));
    send(&mut anonymous, json!({ "type": "subscribe" })).await;
    assert_eq!(next(&mut anonymous).await["code"], "bad_message");
    send(&mut anonymous, json!({ "type": "auth", "token": alice.token })).await;
    let ready = next(&mut anonymous).await;
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["workspace_id"], alice.workspace_id.as_str());
    create_key(&app, &alice, "k").await;
    assert_eq!(until(&mut anonymous, "api_key.created").await.pop().unwrap()["data"]["name"], "k");

    let (mut wrong, _) = tokio_tungstenite::connect_async(url(&app)).await.unwrap();
    send(&mut wrong, json!({ "type": "auth", "token": "nonsense" })).await;
    assert_eq!(next(&mut wrong).await["code"], "unauthorized");
}

/// The close frame's code, skipping other frames. The timeout only turns a hang into a failure.
async fn close_code(ws: &mut Socket) -> u16 {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("closed within 20 s")
            .expect("a close frame before the end")
            .expect("valid frame");
        if let Message::Close(frame) = msg {
            return frame.map(|f| u16::from(f.code)).unwrap_or_default();
        }
    }
}

#[tokio::test]
async fn signing_out_or_losing_the_key_ends_the_event_feed() {
    let app = spawn_app_with(CacheKind::Redis, |s| {
        s.process.workers = false;
        s.process.cron = false;
        s.events.live_heartbeat_secs = 1;
    })
    .await;
    let alice = app.signup("alice@example.com").await;
    let (mut by_token, _) =
        tokio_tungstenite::connect_async(format!("{}?access_token={}", url(&app), alice.token))
            .await
            .unwrap();
    assert_eq!(next(&mut by_token).await["type"], "ready");
    let key: Value = app
        .post_as("/api/api-keys", &alice.token, &json!({ "name": "feed" }))
        .await
        .json()
        .await
        .unwrap();
    let secret = key["secret"].as_str().expect("the key is shown once");
    let (mut by_key, _) =
        tokio_tungstenite::connect_async(format!("{}?access_token={secret}", url(&app)))
            .await
            .unwrap();
    assert_eq!(next(&mut by_key).await["type"], "ready");

    let res = app
        .send_as(
            reqwest::Method::DELETE,
            &format!("/api/api-keys/{}", key["id"].as_str().unwrap()),
            &alice.token,
            None,
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(close_code(&mut by_key).await, 1008, "a revoked key's socket is closed");

    app.send_as(reqwest::Method::POST, "/api/auth/logout", &alice.token, None).await;
    assert_eq!(close_code(&mut by_token).await, 1008, "a signed-out session's socket is closed");
}
