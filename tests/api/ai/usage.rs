//! Usage rows as Anthropic and Gemini report them, configured prices and budgets, and the
//! workspace's own provider keys.

use serde_json::{Value, json};
use smartflow::config::{
    Secret,
    ai::{CompatibleSettings, PriceSettings},
};
use wiremock::{Mock, MockServer, matchers};

use super::support::*;
use crate::helpers::assert_problem;

fn anthropic_stream() -> String {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null,
            "usage": {"input_tokens": 60, "cache_read_input_tokens": 40, "cache_creation_input_tokens": 0, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello from Claude."}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": 10}}),
        json!({"type": "message_stop"}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

fn gemini_stream() -> String {
    let chunk = |text: &str, finish: Option<&str>, usage: Value| {
        let mut candidate =
            json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
        if let Some(f) = finish {
            candidate["finishReason"] = json!(f);
        }
        json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"})
    };
    [
        chunk("Hello ", None, json!({"promptTokenCount": 100})),
        chunk(
            "from Gemini.",
            Some("STOP"),
            json!({"promptTokenCount": 100, "candidatesTokenCount": 10, "cachedContentTokenCount": 40}),
        ),
    ]
    .iter()
    .map(|c| format!("data: {c}\r\n\r\n"))
    .collect()
}

async fn ledger(app: &crate::helpers::TestApp) -> Vec<(String, String, i64, i64, i64, i64)> {
    sqlx::query_as(
        "select provider, model, input_tokens, output_tokens, cached_input_tokens, cost_usd_micros \
         from smartflow_ai.usage_ledger where operation = 'chat' order by created_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn anthropic_and_gemini_usage_rows_match_what_the_fakes_report() {
    let anthropic = MockServer::start().await;
    Mock::given(matchers::path("/v1/messages"))
        .respond_with(sse(anthropic_stream()))
        .mount(&anthropic)
        .await;
    let gemini = MockServer::start().await;
    Mock::given(matchers::path("/v1beta/models/gemini-2.5-flash:streamGenerateContent"))
        .respond_with(sse(gemini_stream()))
        .mount(&gemini)
        .await;
    let openai = MockServer::start().await;
    let (a, g) = (anthropic.uri(), gemini.uri());
    let app = ai_app(&openai, move |s| {
        s.ai.anthropic.api_key = Secret::new("sk-ant-test-key");
        s.ai.anthropic.base_url = a;
        s.ai.gemini.api_key = Secret::new("gemini-test-key");
        s.ai.gemini.base_url = g;
    })
    .await;
    let alice = app.signup("alice@example.com").await;
    for provider in ["anthropic", "gemini"] {
        let agent = create_agent(&app, &alice.token, json!({"provider": provider})).await;
        let res = app
            .post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "Hi"}))
            .await;
        assert_eq!(res.status(), 202);
        app.run_jobs().await;
    }

    // Anthropic counts cache reads apart from input_tokens; Gemini includes them.
    // claude-sonnet-4-5: 60 × $3 + 40 × $0.30 + 10 × $15 per million = 342 µ$.
    // gemini-2.5-flash: 60 × $0.30 + 40 × $0.03 + 10 × $2.50 per million = 44.2 µ$ → 44.
    assert_eq!(
        ledger(&app).await,
        [
            ("anthropic".into(), "claude-sonnet-4-5-20250929".into(), 100, 10, 40, 342),
            ("gemini".into(), "gemini-2.5-flash".into(), 100, 10, 40, 44),
        ]
    );
    let replies: Vec<Value> =
        app.get_as("/api/conversations", &alice.token).await.json().await.unwrap();
    assert_eq!(replies.len(), 2);
}

#[tokio::test]
async fn a_budget_refuses_unpriced_models_until_they_are_priced() {
    let ollama = MockServer::start().await;
    Mock::given(matchers::path("/v1/chat/completions"))
        .respond_with(sse(stream_body(&["Hi", "!"], 120, 2).replace(MODEL, "llama3.1")))
        .mount(&ollama)
        .await;
    let openai = MockServer::start().await;
    let uri = ollama.uri();
    let compatible = move |s: &mut smartflow::Settings| {
        s.ai.openai.api_key = Secret::default();
        s.ai.openai_compatible = vec![CompatibleSettings {
            name: "ollama".into(),
            base_url: uri.clone(),
            chat_model: "llama3.1".into(),
            max_retries: 0,
            ..Default::default()
        }];
    };
    let app = ai_app(&openai, compatible.clone()).await;
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(&app, &alice.token, json!({})).await;
    let question = json!({"agent_id": agent, "message": "Hi"});
    let ask = || app.post_as("/api/chat", &alice.token, &question);
    // Without a budget an unpriced model is allowed (its rows cost 0 and are flagged).
    assert_eq!(ask().await.status(), 202);
    let res = app
        .send_as(
            reqwest::Method::PUT,
            "/api/ai/budget",
            &alice.token,
            Some(&json!({"monthly_limit_usd_micros": 1_000_000})),
        )
        .await;
    assert_eq!(res.status(), 200);

    let problem = assert_problem(ask().await, 409).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("[[ai.prices]]") && detail.contains("\"llama3.1\""), "{detail}");
    // The same for a free-text model at a built-in provider the table does not know.
    let openai_app = ai_app(&openai, |_| {}).await;
    let bob = openai_app.signup("bob@example.com").await;
    let odd = create_agent(&openai_app, &bob.token, json!({"model": "gpt-99-turbo"})).await;
    openai_app
        .send_as(
            reqwest::Method::PUT,
            "/api/ai/budget",
            &bob.token,
            Some(&json!({"monthly_limit_usd_micros": 1_000_000})),
        )
        .await;
    let res = openai_app
        .post_as("/api/chat", &bob.token, &json!({"agent_id": odd, "message": "Hi"}))
        .await;
    assert!(assert_problem(res, 409).await["detail"].as_str().unwrap().contains("gpt-99-turbo"));

    // Priced in the configuration, the host's calls count against the budget.
    let priced = ai_app(&openai, move |s| {
        compatible(s);
        s.ai.prices = vec![PriceSettings {
            provider: "ollama".into(),
            model: "llama3.1".into(),
            input: 2.0,
            output: 10.0,
            cached_input: None,
            cache_write: None,
        }];
    })
    .await;
    let carol = priced.signup("carol@example.com").await;
    let agent = create_agent(&priced, &carol.token, json!({})).await;
    priced
        .send_as(
            reqwest::Method::PUT,
            "/api/ai/budget",
            &carol.token,
            Some(&json!({"monthly_limit_usd_micros": 100})),
        )
        .await;
    let res = priced
        .post_as("/api/chat", &carol.token, &json!({"agent_id": agent, "message": "Hi"}))
        .await;
    assert_eq!(res.status(), 202);
    priced.run_jobs().await;
    let cost: (i64, String) = sqlx::query_as(
        "select cost_usd_micros, price_version from smartflow_ai.usage_ledger where operation = 'chat'",
    )
    .fetch_one(&priced.db)
    .await
    .unwrap();
    // 120 × $2 + 2 × $10 per million = 260 µ$: past the budget of 100.
    assert_eq!(cost, (260, "config".to_string()));
    let res = priced
        .post_as("/api/chat", &carol.token, &json!({"agent_id": agent, "message": "Again"}))
        .await;
    assert_problem(res, 402).await;
}

#[tokio::test]
async fn a_workspace_key_is_stored_encrypted_never_returned_and_sent_as_the_bearer() {
    let fake = MockServer::start().await;
    mount_chat(&fake, &["Hi"]).await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let user = app.member(&alice, "user@example.com", "user").await;
    let key = "sk-workspace-own-key-98765";

    let refused = app
        .send_as(
            reqwest::Method::PUT,
            "/api/ai/providers/openai/key",
            &user.token,
            Some(&json!({"api_key": key})),
        )
        .await;
    assert_problem(refused, 403).await;
    let res = app
        .send_as(
            reqwest::Method::PUT,
            "/api/ai/providers/openai/key",
            &alice.token,
            Some(&json!({"api_key": key})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let shown = res.text().await.unwrap();
    assert!(!shown.contains(key) && shown.contains("8765"), "{shown}");

    let stored: String = sqlx::query_scalar(
        "select encrypted_key from smartflow_ai.provider_keys where provider = 'openai'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!stored.contains(key) && !stored.contains("98765"), "stored as ciphertext");
    let listed = app.get_as("/api/ai/providers", &alice.token).await.text().await.unwrap();
    assert!(!listed.contains(key), "{listed}");

    let agent = create_agent(&app, &alice.token, json!({})).await;
    app.post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "Hi"})).await;
    app.run_jobs().await;
    let requests = fake.received_requests().await.unwrap();
    let chat = requests.iter().rfind(|r| r.url.path() == "/v1/chat/completions").unwrap();
    assert_eq!(
        chat.headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Bearer {key}"),
        "the workspace's key, not the server's"
    );
    let audit = app.get_as("/api/audit", &alice.token).await.text().await.unwrap();
    assert!(!audit.contains(key));
}

#[tokio::test]
async fn a_stream_that_breaks_off_after_part_of_the_answer_is_still_in_the_ledger() {
    let fake = MockServer::start().await;
    // Two tokens, then the connection ends: no finish, no usage, no `[DONE]`.
    let cut: String =
        stream_body(&["Our office ", "opens at"], 120, 2).split_inclusive("\n\n").take(3).collect();
    Mock::given(matchers::path("/v1/chat/completions")).respond_with(sse(cut)).mount(&fake).await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(&app, &alice.token, json!({"system_prompt": "Be brief."})).await;
    let res = app
        .post_as(
            "/api/chat",
            &alice.token,
            &json!({"agent_id": agent, "message": "When do you open?"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    app.run_jobs().await;

    let row: (i64, i64, bool, i64) = sqlx::query_as(
        "select input_tokens, output_tokens, estimated, cost_usd_micros from smartflow_ai.usage_ledger \
         where operation = 'chat'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    // "Be brief." + "When do you open?" = 26 characters ≈ 7 tokens; "Our office opens at" ≈ 5.
    assert_eq!(row, (7, 5, true, 11));
}
