//! Chat end to end: 202 with a job id, the worker's events over `/ws/chat` (served by another
//! instance, through Redis), reconnect-and-resume, the stored reply, usage, and isolation.

use std::collections::BTreeSet;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use serde_json::{Value, json};
use wiremock::MockServer;

use super::support::*;
use crate::helpers::assert_problem;

const TOKENS: &[&str] = &["Our ", "office ", "opens ", "at ", "nine ", "every ", "weekday", "."];

#[tokio::test]
async fn chat_streams_over_the_websocket_resumes_after_a_reconnect_and_stores_the_reply() {
    // The provider streams three tokens, then holds the rest until released: the socket is
    // dropped and reopened while the job is still running.
    let fake = GatedChat::start(TOKENS, 3).await;
    let app = gated_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(
        &app,
        &alice.token,
        json!({"system_prompt": "Be brief.", "memory_window": 10}),
    )
    .await;

    // A second instance on the same database and Redis serves the socket; the first runs jobs.
    let (b_address, b_stop) = second_instance(&app, |_| {}).await;

    let res = app
        .post_as(
            "/api/chat",
            &alice.token,
            &json!({"agent_id": agent, "message": "When do you open?"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let accepted: Value = res.json().await.unwrap();
    let job_id = accepted["job_id"].as_i64().unwrap();
    let conversation = accepted["conversation_id"].as_str().unwrap().to_string();

    let mut ws = connect(&b_address, &format!("?access_token={}", alice.token)).await;
    assert_eq!(next(&mut ws).await["type"], "ready");
    send(&mut ws, json!({"type": "subscribe", "job_id": job_id, "after": 0})).await;
    assert_eq!(next(&mut ws).await, json!({"type": "subscribed", "job_id": job_id, "after": 0}));

    let worker = run_jobs_in_background(&app);
    // Read the part of the answer the provider has sent, then drop the connection mid-stream.
    let first: Vec<Value> = vec![next(&mut ws).await, next(&mut ws).await, next(&mut ws).await];
    assert!(first.iter().all(|e| e["type"] == "token"), "{first:?}");
    drop(ws);
    let last_seen = first.last().unwrap()["seq"].as_i64().unwrap();
    let running: Value =
        app.get_as(&format!("/api/chat/jobs/{job_id}"), &alice.token).await.json().await.unwrap();
    assert_eq!(running["status"], "running", "the answer is still being written");

    let mut ws = connect(&b_address, "").await;
    send(&mut ws, json!({"type": "auth", "token": alice.token})).await;
    assert_eq!(next(&mut ws).await["type"], "ready");
    send(&mut ws, json!({"type": "subscribe", "job_id": job_id, "after": last_seen})).await;
    assert_eq!(next(&mut ws).await["type"], "subscribed");
    fake.release();
    let rest = until(&mut ws, "done").await;
    worker.await.unwrap();

    let all: Vec<&Value> = first.iter().chain(rest.iter()).collect();
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "ordered, no gaps, no duplicates"
    );
    assert!(all.iter().all(|e| e["job_id"] == job_id));
    let text: String =
        all.iter().filter(|e| e["type"] == "token").map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(text, TOKENS.concat());
    let done = all.last().unwrap();
    assert_eq!(done["content"], TOKENS.concat());
    assert_eq!(done["usage"]["input_tokens"], 120);
    assert_eq!(done["conversation_id"], conversation.as_str());

    // The stored reply, via the API, with the usage the fake reported and its price.
    let status: Value =
        app.get_as(&format!("/api/chat/jobs/{job_id}"), &alice.token).await.json().await.unwrap();
    assert_eq!(status["status"], "completed");
    assert_eq!(status["message"]["content"], TOKENS.concat());
    assert_eq!(status["last_seq"], seqs.len() as i64);
    let messages: Vec<Value> = app
        .get_as(&format!("/api/conversations/{conversation}/messages"), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        messages.iter().map(|m| m["role"].as_str().unwrap()).collect::<Vec<_>>(),
        ["user", "assistant"]
    );
    assert_eq!(messages[0]["content"], "When do you open?");
    let ledger: (i64, i64, i64, String) = sqlx::query_as(
        "select input_tokens, output_tokens, cost_usd_micros, model from smartflow_ai.usage_ledger where operation = 'chat'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    // gpt-4.1-mini: 120 × $0.40/M + 8 × $1.60/M = 48 + 12.8 µ$ → 61.
    assert_eq!(ledger, (120, TOKENS.len() as i64, 61, MODEL.to_string()));

    // A follow-up remembers the conversation: the first exchange is sent as memory.
    let res = app.post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "conversation_id": conversation, "message": "And on Sunday?"})).await;
    assert_eq!(res.status(), 202);
    fake.release();
    app.run_jobs().await;
    let body = fake.bodies().pop().unwrap();
    let sent: Vec<(&str, &str)> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        sent,
        [
            ("system", "Be brief."),
            ("user", "When do you open?"),
            ("assistant", "Our office opens at nine every weekday."),
            ("user", "And on Sunday?")
        ]
    );
    b_stop.shutdown();
}

#[tokio::test]
async fn a_subscriber_whose_live_feed_misses_the_events_still_receives_them_and_done() {
    let fake = GatedChat::start(TOKENS, 2).await;
    let app = gated_app(&fake, |s| s.ai.websocket.resync_interval_ms = 100).await;
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(&app, &alice.token, json!({})).await;
    // The socket's instance has its own in-memory pub/sub: nothing the worker publishes (on
    // Redis) reaches it, as when a publish is lost. Only the stored events can.
    let (b_address, b_stop) =
        second_instance(&app, |s| s.redis.url = smartflow::config::Secret::default()).await;
    let accepted: Value = app
        .post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "Hours?"}))
        .await
        .json()
        .await
        .unwrap();
    let job_id = accepted["job_id"].as_i64().unwrap();
    let worker = run_jobs_in_background(&app);
    eventually("the first events are stored", || async {
        let n: i64 =
            sqlx::query_scalar("select count(*) from smartflow_ai.chat_events where job_id = $1")
                .bind(job_id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        n >= 2
    })
    .await;

    let mut ws = connect(&b_address, &format!("?access_token={}", alice.token)).await;
    assert_eq!(next(&mut ws).await["type"], "ready");
    send(&mut ws, json!({"type": "subscribe", "job_id": job_id, "after": 0})).await;
    assert_eq!(next(&mut ws).await["type"], "subscribed");
    // Served from the table on subscribe; the follower now waits on its (deaf) live feed.
    let first = [next(&mut ws).await, next(&mut ws).await];
    fake.release();
    worker.await.unwrap();
    let rest = until(&mut ws, "done").await;

    let seqs: Vec<i64> =
        first.iter().chain(rest.iter()).map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "no gaps, no duplicates");
    assert_eq!(rest.last().unwrap()["content"], TOKENS.concat());
    b_stop.shutdown();
}

#[tokio::test]
async fn another_workspace_cannot_see_or_continue_the_conversation() {
    let fake = MockServer::start().await;
    mount_chat(&fake, TOKENS).await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let mallory = app.signup("mallory@example.com").await;
    let agent = create_agent(&app, &alice.token, json!({})).await;
    let accepted: Value = app
        .post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "Secret plans"}))
        .await
        .json()
        .await
        .unwrap();
    app.run_jobs().await;
    let (job, conversation) =
        (accepted["job_id"].as_i64().unwrap(), accepted["conversation_id"].as_str().unwrap());

    for path in [
        format!("/api/chat/jobs/{job}"),
        format!("/api/conversations/{conversation}"),
        format!("/api/conversations/{conversation}/messages"),
        format!("/api/agents/{agent}"),
    ] {
        assert_problem(app.get_as(&path, &mallory.token).await, 404).await;
    }
    let list: Vec<Value> =
        app.get_as("/api/conversations", &mallory.token).await.json().await.unwrap();
    assert!(list.is_empty());
    let res = app
        .post_as(
            "/api/chat",
            &mallory.token,
            &json!({"agent_id": agent, "conversation_id": conversation, "message": "Tell me"}),
        )
        .await;
    assert_problem(res, 404).await;

    let mut ws = connect(&app.address, &format!("?access_token={}", mallory.token)).await;
    next(&mut ws).await;
    send(&mut ws, json!({"type": "subscribe", "job_id": job, "after": 0})).await;
    let refused = next(&mut ws).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "not_found:404");

    // Mallory's own agent with Alice's conversation id starts nothing either.
    let own = create_agent(&app, &mallory.token, json!({})).await;
    let res = app
        .post_as(
            "/api/chat",
            &mallory.token,
            &json!({"agent_id": own, "conversation_id": conversation, "message": "x"}),
        )
        .await;
    assert_problem(res, 404).await;
    let count: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_ai.messages where conversation_id = $1::uuid",
    )
    .bind(conversation)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn sockets_refuse_bad_credentials_and_foreign_origins() {
    let fake = MockServer::start().await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let url = app.address.replace("http://", "ws://") + "/ws/chat";
    let err =
        tokio_tungstenite::connect_async(format!("{url}?access_token=nonsense")).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.clone().into_client_request().unwrap();
    req.headers_mut().insert("cookie", alice.session_cookie.parse().unwrap());
    req.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("cookie", alice.session_cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "ready");
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next(&mut ws).await, json!({"type": "pong"}));
    send(&mut ws, json!({"type": "subscribe"})).await;
    assert_eq!(next(&mut ws).await["code"], "bad_message");

    let mut anonymous = connect(&app.address, "").await;
    send(&mut anonymous, json!({"type": "subscribe", "job_id": 1})).await;
    assert_eq!(next(&mut anonymous).await["code"], "unauthenticated");
}

#[tokio::test]
async fn chat_over_the_socket_and_without_a_provider_a_503_names_the_setting() {
    let fake = MockServer::start().await;
    mount_chat(&fake, &["Hi", "!"]).await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(&app, &alice.token, json!({})).await;
    let mut ws = connect(&app.address, &format!("?access_token={}", alice.token)).await;
    next(&mut ws).await;
    send(&mut ws, json!({"type": "chat", "agent_id": agent, "message": "Hello"})).await;
    let accepted = next(&mut ws).await;
    assert_eq!(accepted["type"], "accepted");
    app.run_jobs().await;
    let events = until(&mut ws, "done").await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let stored: Vec<(i64, i32, serde_json::Value)> = sqlx::query_as(
        "select job_id, seq, event from smartflow_ai.chat_events order by job_id, seq",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(kinds, ["token", "token", "done"], "{events:?} {accepted} {stored:?}");

    let bare = crate::helpers::spawn_app_without_workers().await;
    let bob = bare.signup("bob@example.com").await;
    let agent = create_agent(&bare, &bob.token, json!({})).await;
    let problem = assert_problem(
        bare.post_as("/api/chat", &bob.token, &json!({"agent_id": agent, "message": "Hi"})).await,
        503,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("ai.openai.api_key"), "{problem}");
    let health: Value = bare.get("/api/health").await.json().await.unwrap();
    assert_eq!(health["checks"]["external_apis"]["apis"]["openai"], "not_configured");
}

#[tokio::test]
async fn budgets_are_enforced_before_a_call_and_agents_keep_their_versions() {
    let fake = MockServer::start().await;
    mount_chat(&fake, TOKENS).await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;

    let bad = app
        .post_as(
            "/api/agents",
            &alice.token,
            &json!({"name": "", "configuration": {"temperature": 9, "provider": "nope"}}),
        )
        .await;
    let problem = assert_problem(bad, 422).await;
    let fields: BTreeSet<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["name", "configuration.temperature", "configuration.provider"])
    );

    let agent = create_agent(&app, &alice.token, json!({"system_prompt": "v1"})).await;
    let res = app.send_as(reqwest::Method::PUT, &format!("/api/agents/{agent}"), &alice.token, Some(&json!({"name": "Helper", "base_version": 1, "configuration": {"system_prompt": "v2"}}))).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 2);
    let stale = app
        .send_as(
            reqwest::Method::PUT,
            &format!("/api/agents/{agent}"),
            &alice.token,
            Some(&json!({"name": "Helper", "base_version": 1})),
        )
        .await;
    assert_problem(stale, 409).await;
    let versions: Vec<Value> = app
        .get_as(&format!("/api/agents/{agent}/versions"), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    let prompts: Vec<&str> =
        versions.iter().map(|v| v["configuration"]["system_prompt"].as_str().unwrap()).collect();
    assert_eq!(prompts, ["v2", "v1"]);

    let res = app
        .send_as(
            reqwest::Method::PUT,
            "/api/ai/budget",
            &alice.token,
            Some(&json!({"monthly_limit_usd_micros": 50})),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "One"})).await;
    app.run_jobs().await; // costs 61 µ$: the budget of 50 is now spent
    let problem = assert_problem(
        app.post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "Two"})).await,
        402,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("budget"), "{problem}");
    let usage: Value = app.get_as("/api/ai/usage", &alice.token).await.json().await.unwrap();
    assert_eq!(usage["spent_usd_micros"], 61);
}

#[tokio::test]
async fn a_last_attempt_that_fails_after_the_answer_still_ends_the_reply_with_an_error() {
    let fake = MockServer::start().await;
    mount_chat(&fake, TOKENS).await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(&app, &alice.token, json!({})).await;
    // Storing the finished reply fails (as when the database goes away at that moment).
    sqlx::query(
        "create function smartflow_ai.refuse_completed() returns trigger language plpgsql as \
         $$ begin if new.status = 'completed' then raise exception 'storage is gone'; end if; \
         return new; end $$",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "create trigger refuse_completed before update on smartflow_ai.messages \
         for each row execute function smartflow_ai.refuse_completed()",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let accepted: Value = app
        .post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "Hours?"}))
        .await
        .json()
        .await
        .unwrap();
    let job_id = accepted["job_id"].as_i64().unwrap();
    // This attempt is the last one.
    sqlx::query("update smartflow_shared.jobs set max_attempts = 1 where id = $1")
        .bind(job_id)
        .execute(&app.db)
        .await
        .unwrap();
    let mut ws = connect(&app.address, &format!("?access_token={}", alice.token)).await;
    next(&mut ws).await;
    send(&mut ws, json!({"type": "subscribe", "job_id": job_id})).await;
    assert_eq!(next(&mut ws).await["type"], "subscribed");

    app.run_jobs().await;

    let events = until(&mut ws, "error").await;
    let last = events.last().unwrap();
    assert_eq!(last["retrying"], false, "{events:?}");
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "no sequence number skipped");
    let status: Value =
        app.get_as(&format!("/api/chat/jobs/{job_id}"), &alice.token).await.json().await.unwrap();
    assert_eq!(status["status"], "failed");
    assert_eq!(status["last_seq"], *seqs.last().unwrap());
    let state: String = sqlx::query_scalar("select state from smartflow_shared.jobs where id = $1")
        .bind(job_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "dead");
}

#[tokio::test]
async fn another_user_of_the_same_workspace_cannot_read_the_conversation() {
    let fake = MockServer::start().await;
    mount_chat(&fake, TOKENS).await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let bob = app.member(&alice, "bob@example.com", "user").await;
    let agent = create_agent(&app, &alice.token, json!({})).await;
    let accepted: Value = app
        .post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "My salary?"}))
        .await
        .json()
        .await
        .unwrap();
    app.run_jobs().await;
    let (job, conversation) =
        (accepted["job_id"].as_i64().unwrap(), accepted["conversation_id"].as_str().unwrap());

    for path in [
        format!("/api/chat/jobs/{job}"),
        format!("/api/conversations/{conversation}"),
        format!("/api/conversations/{conversation}/messages"),
    ] {
        assert_problem(app.get_as(&path, &bob.token).await, 404).await;
    }
    let list: Vec<Value> = app.get_as("/api/conversations", &bob.token).await.json().await.unwrap();
    assert!(list.is_empty());
    // Bob may use the agent, but not continue Alice's conversation with it.
    let res = app
        .post_as(
            "/api/chat",
            &bob.token,
            &json!({"agent_id": agent, "conversation_id": conversation, "message": "And?"}),
        )
        .await;
    assert_problem(res, 404).await;
    let mut ws = connect(&app.address, &format!("?access_token={}", bob.token)).await;
    next(&mut ws).await;
    send(&mut ws, json!({"type": "subscribe", "job_id": job})).await;
    assert_eq!(next(&mut ws).await["code"], "not_found:404");
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_while_the_worker_finishes() {
    // Large tokens fill the socket's buffers quickly when the client reads nothing.
    static BIG: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (0..64).map(|i| format!("{i:02}{}", "x".repeat(256 * 1024))).collect()
    });
    let tokens: Vec<&str> = BIG.iter().map(String::as_str).collect();
    let fake = MockServer::start().await;
    mount_chat(&fake, &tokens).await;
    let app = ai_app(&fake, |s| s.ai.websocket.send_timeout_ms = 200).await;
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(&app, &alice.token, json!({})).await;
    let accepted: Value = app
        .post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "Everything"}))
        .await
        .json()
        .await
        .unwrap();
    let job_id = accepted["job_id"].as_i64().unwrap();
    let mut ws = connect(&app.address, &format!("?access_token={}", alice.token)).await;
    assert_eq!(next(&mut ws).await["type"], "ready");
    send(&mut ws, json!({"type": "subscribe", "job_id": job_id})).await;
    assert_eq!(next(&mut ws).await["type"], "subscribed");

    // The worker does not wait for the socket: the answer is complete while nobody reads it.
    app.run_jobs().await;
    let status: Value =
        app.get_as(&format!("/api/chat/jobs/{job_id}"), &alice.token).await.json().await.unwrap();
    assert_eq!(status["status"], "completed");
    eventually("the server gives up on the socket", || async {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        metrics.lines().any(|l| {
            l.starts_with("ai_websocket_closed_total{reason=\"too_slow\"}") && !l.ends_with(" 0")
        })
    })
    .await;

    // What was already on its way arrives, then the close: 1013, try again later.
    let close = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), ws.next())
            .await
            .expect("the socket is closed in time")
        {
            Some(Ok(WsMessage::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1013));
}

#[tokio::test]
async fn a_job_that_died_without_ending_its_reply_is_ended_for_its_subscribers() {
    let fake = MockServer::start().await;
    mount_chat(&fake, TOKENS).await;
    let app = ai_app(&fake, |s| s.ai.websocket.resync_interval_ms = 100).await;
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(&app, &alice.token, json!({})).await;
    let accepted: Value = app
        .post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "Hours?"}))
        .await
        .json()
        .await
        .unwrap();
    let job_id = accepted["job_id"].as_i64().unwrap();
    let mut ws = connect(&app.address, &format!("?access_token={}", alice.token)).await;
    next(&mut ws).await;
    send(&mut ws, json!({"type": "subscribe", "job_id": job_id})).await;
    assert_eq!(next(&mut ws).await["type"], "subscribed");
    // Its worker was lost during the last attempt: the rescue marks the job dead, and nothing
    // will run it again.
    sqlx::query(
        "update smartflow_shared.jobs set state = 'dead', finished_at = now(), \
         last_error = 'worker lost (no heartbeat)' where id = $1",
    )
    .bind(job_id)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("update smartflow_ai.messages set status = 'running' where job_id = $1")
        .bind(job_id)
        .execute(&app.db)
        .await
        .unwrap();

    let end = until(&mut ws, "error").await;
    assert_eq!(end.last().unwrap()["retrying"], false);
    assert_eq!(end.last().unwrap()["seq"], 1);
    let status: Value =
        app.get_as(&format!("/api/chat/jobs/{job_id}"), &alice.token).await.json().await.unwrap();
    assert_eq!(status["status"], "failed");
}
