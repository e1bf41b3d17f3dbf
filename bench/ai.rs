//! AI platform benchmarks against the PostgreSQL server in `BENCH_DATABASE_SERVER` (a fresh
//! database is created and dropped) and Redis in `REDIS_URL`, with a fake OpenAI server on
//! loopback that answers instantly. Run with `bench/ai.sh`; prints `name: value` lines.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use smartflow::{
    Application, Settings,
    config::{Environment, Secret, Sources},
};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio_tungstenite::tungstenite::Message as Ws;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

const DIMS: usize = 256;
const CHUNKS: usize = 10_000;

fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIMS];
    for w in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2) {
        let h = w
            .bytes()
            .fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
        v[(h % DIMS as u64) as usize] += 1.0;
    }
    v
}

struct Embedder;
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
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t)}))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": data, "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}))
    }
}

fn sse_answer(tokens: usize) -> String {
    let chunk = |delta: Value, finish: Value| json!({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4.1-mini", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    let mut body = String::new();
    for i in 0..tokens {
        body.push_str(&format!(
            "data: {}\n\n",
            chunk(json!({"content": format!("word{i} ")}), Value::Null)
        ));
    }
    body.push_str(&format!("data: {}\n\n", chunk(json!({}), json!("stop"))));
    body.push_str(&format!("data: {}\n\n", json!({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4.1-mini", "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": tokens}})));
    body.push_str("data: [DONE]\n\n");
    body
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn socket(
    port: u16,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{port}/ws/chat?access_token={token}"
    ))
    .await
    .unwrap();
    next(&mut ws).await; // ready
    ws
}

async fn next(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        if let Ws::Text(t) = ws.next().await.unwrap().unwrap() {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

async fn app(db_url: &str, fake: &str, workers: bool) -> Application {
    let mut s = Settings::load_from(&Sources {
        dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
        environment: Environment::Test,
        use_env: false,
    })
    .unwrap();
    s.database.url = Secret::new(db_url);
    s.database.max_connections = 30;
    s.redis.url =
        Secret::new(std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()));
    s.redis.key_prefix = format!("bench{}:", std::process::id());
    s.server.port = 0;
    s.server.workers = 2;
    s.process.workers = workers;
    s.process.cron = false;
    s.rate_limit.enabled = false;
    s.billing.default_plan = "business".into();
    s.ai.openai.api_key = Secret::new("sk-bench");
    s.ai.openai.base_url = fake.to_string();
    Application::build(s).await.unwrap()
}

#[tokio::main]
async fn main() {
    let server = std::env::var("BENCH_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("smartflow_bench_ai_{}", std::process::id());
    let db_url = format!("{server}/{name}");
    let fake = MockServer::start().await;
    Mock::given(matchers::path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(sse_answer(20), "text/event-stream"))
        .mount(&fake)
        .await;
    Mock::given(matchers::path("/v1/embeddings")).respond_with(Embedder).mount(&fake).await;
    smartflow::app::install_crypto_provider();
    let client = reqwest::Client::new();

    // The fake's own answer time, to tell our overhead from the fake server's.
    let mut fake_ms = Vec::new();
    for _ in 0..30 {
        let t0 = Instant::now();
        let res = client
            .post(format!("{}/v1/chat/completions", fake.uri()))
            .json(&json!({"stream": true}))
            .send()
            .await
            .unwrap();
        let _ = res.bytes().await.unwrap();
        fake_ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    println!("fake_provider_stream_ms_p50: {:.1}", pct(fake_ms[5..].to_vec(), 0.5));

    // ---- chat: request to first token, workers on, the fake answering at once ----------------
    let a = app(&db_url, &fake.uri(), true).await;
    let (port, state) = (a.port(), a.state().clone());
    let stop = a.shutdown_handle();
    let server_task = tokio::spawn(a.run_until_stopped());
    let base = format!("http://127.0.0.1:{port}");
    let signup: Value = client.post(format!("{base}/api/auth/signup")).json(&json!({"email": "bench@example.com", "password": "correct horse battery staple", "name": "B"})).send().await.unwrap().json().await.unwrap();
    let token = signup["access_token"].as_str().unwrap().to_string();
    let agent: Value = client
        .post(format!("{base}/api/agents"))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench", "configuration": {"memory_window": 0}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let agent_id = agent["id"].as_str().unwrap().to_string();
    let mut ws = socket(port, &token).await;
    let (mut first, mut done, mut accepted) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..60 {
        let t0 = Instant::now();
        ws.send(Ws::Text(
            json!({"type": "chat", "agent_id": agent_id, "message": format!("question {i}")})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let mut seen_token = false;
        loop {
            let m = next(&mut ws).await;
            match m["type"].as_str().unwrap() {
                "accepted" => accepted.push(t0.elapsed().as_secs_f64() * 1e3),
                "token" if !seen_token => {
                    seen_token = true;
                    first.push(t0.elapsed().as_secs_f64() * 1e3);
                }
                "done" => {
                    done.push(t0.elapsed().as_secs_f64() * 1e3);
                    break;
                }
                _ => {}
            }
        }
    }
    // The first ten warm the pools and caches.
    let (first, done, accepted) =
        (first[10..].to_vec(), done[10..].to_vec(), accepted[10..].to_vec());
    println!("chat_accepted_ms_p50: {:.1}", pct(accepted.clone(), 0.5));
    println!("chat_first_token_ms_p50: {:.1}", pct(first.clone(), 0.5));
    println!("chat_first_token_ms_p95: {:.1}", pct(first, 0.95));
    println!("chat_done_ms_p50 (20 tokens): {:.1}", pct(done, 0.5));
    // Where the time goes: queue pickup, then the job until its reply is stored.
    let (pickup, run): (f64, f64) = sqlx::query_as(
        "select (percentile_cont(0.5) within group (order by extract(epoch from j.started_at - j.created_at)) * 1000)::float8, \
         (percentile_cont(0.5) within group (order by extract(epoch from m.completed_at - j.started_at)) * 1000)::float8 \
         from smartflow_shared.jobs j join smartflow_ai.messages m on m.job_id = j.id where j.kind = 'ai.chat'",
    )
    .fetch_one(&state.db)
    .await
    .unwrap();
    println!("chat_job_pickup_ms_p50: {pickup:.1}");
    println!("chat_job_run_to_stored_ms_p50: {run:.1}");
    drop(ws);
    stop.shutdown();
    let _ = server_task.await;
    drop(state);

    // ---- WebSocket fan-out: N sockets follow one job ------------------------------------------
    let b = app(&db_url, &fake.uri(), false).await;
    let (port, state) = (b.port(), b.state().clone());
    let stop = b.shutdown_handle();
    let server_task = tokio::spawn(b.run_until_stopped());
    let base = format!("http://127.0.0.1:{port}");
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "bench@example.com", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    for n in [100usize, 500] {
        let accepted: Value = client
            .post(format!("{base}/api/chat"))
            .bearer_auth(&token)
            .json(&json!({"agent_id": agent_id, "message": "fan out"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let job = accepted["job_id"].as_i64().unwrap();
        let mut sockets = Vec::with_capacity(n);
        for _ in 0..n {
            let mut ws = socket(port, &token).await;
            ws.send(Ws::Text(
                json!({"type": "subscribe", "job_id": job, "after": 0}).to_string().into(),
            ))
            .await
            .unwrap();
            next(&mut ws).await; // subscribed
            sockets.push(ws);
        }
        let t0 = Instant::now();
        let readers: Vec<_> = sockets
            .into_iter()
            .map(|mut ws| {
                tokio::spawn(async move {
                    let mut events = 0u32;
                    loop {
                        let m = next(&mut ws).await;
                        events += 1;
                        if m["type"] == "done" {
                            return (t0.elapsed().as_secs_f64() * 1e3, events);
                        }
                    }
                })
            })
            .collect();
        smartflow::platform::jobs::run_pending(&state, &smartflow::platform::job_registry())
            .await
            .unwrap();
        let mut lat = Vec::new();
        let mut total = 0u64;
        for r in readers {
            let (ms, events) = r.await.unwrap();
            lat.push(ms);
            total += u64::from(events);
        }
        let wall = pct(lat.clone(), 1.0);
        println!("ws_fanout_{n}_done_ms_p50: {:.1}", pct(lat.clone(), 0.5));
        println!("ws_fanout_{n}_done_ms_max: {wall:.1}");
        println!("ws_fanout_{n}_events_per_s: {:.0}", total as f64 / (wall / 1e3));
    }

    // ---- knowledge search on 10,000 chunks ----------------------------------------------------
    let user: uuid::Uuid = login["user"]["id"].as_str().unwrap().parse().unwrap();
    let workspace: uuid::Uuid = sqlx::query_scalar(
        "select workspace_id from smartflow_shared.memberships where user_id = $1",
    )
    .bind(user)
    .fetch_one(&state.db)
    .await
    .unwrap();
    let words: Vec<String> = (0..3000).map(|i| format!("term{i}")).collect();
    let mut kbs = Vec::new();
    for (label, embedded) in [("hybrid", true), ("full_text", false)] {
        let kb: uuid::Uuid = sqlx::query_scalar("insert into smartflow_ai.knowledge_bases (workspace_id, name, embedding_provider, embedding_model, embedding_dimensions) values ($1, $2, $3, $4, $5) returning id")
            .bind(workspace).bind(label).bind(embedded.then_some("openai")).bind(embedded.then_some("text-embedding-3-small")).bind(embedded.then_some(DIMS as i32))
            .fetch_one(&state.db).await.unwrap();
        for d in 0..CHUNKS / 10 {
            let doc: uuid::Uuid = sqlx::query_scalar("insert into smartflow_ai.documents (knowledge_base_id, workspace_id, title, source, content_hash, status) values ($1, $2, $3, 'text', $4, 'ready') returning id")
                .bind(kb).bind(workspace).bind(format!("doc {d}")).bind(format!("{label}-{d}")).fetch_one(&state.db).await.unwrap();
            let mut contents = Vec::new();
            let mut arrays = Vec::new();
            for c in 0..10 {
                let text: Vec<&str> = (0..120)
                    .map(|k| words[(d * 7919 + c * 104_729 + k * 31) % words.len()].as_str())
                    .collect();
                let text = text.join(" ");
                let e = embed(&text);
                arrays.push(format!(
                    "{{{}}}",
                    e.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
                ));
                contents.push(text);
            }
            sqlx::query("with t as (select c, e, o::int as o, md5(c || $1::text || o::text) as h from unnest($4::text[], $5::text[]) with ordinality as t(c, e, o)), \
                ins as (insert into smartflow_ai.chunks (knowledge_base_id, workspace_id, content, content_hash, language, embedding) \
                select $2, $3, c, h, 'english', case when $6 then e::real[] end from t returning id, content_hash) \
                insert into smartflow_ai.chunk_sources (document_id, ordinal, chunk_id, knowledge_base_id, workspace_id, start_offset, end_offset) \
                select $1, t.o, ins.id, $2, $3, 0, length(t.c) from t join ins on ins.content_hash = t.h")
                .bind(doc).bind(kb).bind(workspace).bind(&contents).bind(&arrays).bind(embedded)
                .execute(&state.db).await.unwrap();
        }
        kbs.push((label, kb));
    }
    sqlx::query("analyze smartflow_ai.chunks").execute(&state.db).await.unwrap();
    for (label, kb) in kbs {
        let mut lat = Vec::new();
        for i in 0..60 {
            let q = format!("{} {} {}", words[i * 13], words[i * 29 + 5], words[i * 41 + 9]);
            let t0 = Instant::now();
            let res = client
                .post(format!("{base}/api/knowledge/{kb}/search"))
                .bearer_auth(&token)
                .json(&json!({"query": q, "top_k": 5}))
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success());
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["mode"], label);
            lat.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        let lat = lat[10..].to_vec();
        println!("knowledge_search_{label}_10k_ms_p50: {:.1}", pct(lat.clone(), 0.5));
        println!("knowledge_search_{label}_10k_ms_p95: {:.1}", pct(lat, 0.95));
    }
    println!(
        "vectors_ranked_by: {}",
        if state.ext::<smartflow::modules::ai::state::AiState>().unwrap().pgvector {
            "pgvector"
        } else {
            "in-process (real[])"
        }
    );
    stop.shutdown();
    let _ = server_task.await;
    drop(state);
    tokio::time::sleep(Duration::from_millis(200)).await;
    if std::env::var("BENCH_KEEP_DB").is_ok() {
        println!("kept_database: {name}");
        return;
    }
    if let Ok(mut conn) = PgConnection::connect(&format!("{server}/postgres")).await {
        let _ =
            sqlx::query(AssertSqlSafe(format!(r#"drop database if exists "{name}" with (force)"#)))
                .execute(&mut conn)
                .await;
    }
}
