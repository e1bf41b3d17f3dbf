//! Knowledge bases: chunking and dedupe, hybrid ranking on a corpus with known answers
//! (recall@3), full-text-only mode, PDF uploads, and a chat reply citing the right chunk.

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use super::support::*;
use crate::helpers::{TestApp, assert_problem};

const CORPUS: &[(&str, &str)] = &[
    (
        "Refund policy",
        "Customers can request a refund within 30 days of purchase. Refunds are paid back to the original card within five business days.",
    ),
    (
        "Shipping",
        "We ship orders with a tracked courier. Shipping inside the country takes two to three days; international shipping takes up to ten days.",
    ),
    (
        "Cancel subscription",
        "You can cancel your subscription at any time from the billing settings page. Cancellation takes effect at the end of the current period.",
    ),
    (
        "Password reset",
        "If you forgot your password, use the reset link on the sign-in page. The link expires after one hour.",
    ),
    (
        "Invoices",
        "Invoices are emailed on the first day of each month. Billing history and receipts are available in the account area.",
    ),
    (
        "Vacation policy",
        "Employees receive 25 days of paid vacation per year. Vacation requests need manager approval two weeks ahead.",
    ),
    (
        "Office hours",
        "The office is open from nine to six on weekdays and closed on public holidays.",
    ),
    (
        "Data security",
        "All customer data is encrypted at rest and in transit. Backups are taken every night and kept for thirty days.",
    ),
];

/// Questions and the document that answers each; some share no word with it but a synonym.
const QUESTIONS: &[(&str, &str)] = &[
    ("How long do I have to ask for a refund?", "Refund policy"),
    ("When will I get my money back?", "Refund policy"),
    ("How many days does international shipping take?", "Shipping"),
    ("Which firm delivers my parcel?", "Shipping"),
    ("How do I terminate my plan?", "Cancel subscription"),
    ("I lost my passcode", "Password reset"),
    ("Where can I find my receipts?", "Invoices"),
    ("How much pto do staff get?", "Vacation policy"),
    ("Is customer data encrypted?", "Data security"),
    ("What time does the office open?", "Office hours"),
];

async fn load_corpus(app: &TestApp, token: &str) -> String {
    let kb = create_kb(app, token, "Help centre").await;
    for (title, text) in CORPUS {
        let doc = add_document(
            app,
            token,
            &kb,
            json!({"title": title, "content": text, "metadata": {"topic": title}}),
        )
        .await;
        assert_eq!(doc["status"], "ready", "{doc}");
    }
    kb
}

async fn recall_at_3(app: &TestApp, token: &str, kb: &str, mode: &str) -> f64 {
    let mut found = 0;
    for (question, answer) in QUESTIONS {
        let result = search(app, token, kb, question, 3).await;
        assert_eq!(result["mode"], mode);
        let titles: Vec<&str> = result["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["document_title"].as_str().unwrap())
            .collect();
        if titles.contains(answer) {
            found += 1;
        }
    }
    found as f64 / QUESTIONS.len() as f64
}

#[tokio::test]
#[allow(clippy::print_stderr)]
async fn hybrid_search_finds_what_full_text_alone_misses() {
    let fake = MockServer::start().await;
    mount_embeddings(&fake).await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let kb = load_corpus(&app, &alice.token).await;
    let hybrid = recall_at_3(&app, &alice.token, &kb, "hybrid").await;
    // Vectors are stored for both ranking paths: `real[]` always, pgvector where installed.
    let pgvector: bool =
        sqlx::query_scalar("select exists (select 1 from pg_extension where extname = 'vector')")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let column = if pgvector { "embedding_vector" } else { "embedding" };
    let unembedded: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from smartflow_ai.chunks where {column} is null"
    )))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(unembedded, 0, "every chunk has a vector in `{column}`");

    // The same corpus where no embedding provider is configured: full text alone.
    let plain = crate::helpers::spawn_app_with(crate::helpers::CacheKind::Memory, |s| {
        s.process.workers = false;
        s.process.cron = false;
    })
    .await;
    let bob = plain.signup("bob@example.com").await;
    let plain_kb = load_corpus(&plain, &bob.token).await;
    let full_text = recall_at_3(&plain, &bob.token, &plain_kb, "full_text").await;
    let ranked = if pgvector { "pgvector" } else { "in-process" };
    eprintln!(
        "knowledge recall@3 on {} questions: hybrid ({ranked}) {hybrid:.2}, full text only {full_text:.2}",
        QUESTIONS.len()
    );
    assert!(hybrid >= 0.9, "hybrid recall@3 was {hybrid}");
    assert!(hybrid > full_text, "vectors must add what words miss ({hybrid} vs {full_text})");

    // Lexical questions still work without vectors, ranked first; the note says why.
    let result = search(&plain, &bob.token, &plain_kb, "international shipping days", 3).await;
    assert_eq!(result["hits"][0]["document_title"], "Shipping");
    assert_eq!(result["hits"][0]["vector_rank"], Value::Null);
    let docs: Vec<Value> = plain
        .get_as(&format!("/api/knowledge/{plain_kb}/documents"), &bob.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(docs[0]["error"].as_str().unwrap().contains("full-text search only"));

    // Metadata filters and the score threshold.
    let res = app
        .post_as(
            &format!("/api/knowledge/{kb}/search"),
            &alice.token,
            &json!({"query": "days", "top_k": 10, "filter": {"topic": "Shipping"}}),
        )
        .await;
    let filtered: Value = res.json().await.unwrap();
    let titles: Vec<&str> = filtered["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["document_title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Shipping"]);
    let res = app
        .post_as(
            &format!("/api/knowledge/{kb}/search"),
            &alice.token,
            &json!({"query": "refund", "top_k": 10, "min_score": 0.9}),
        )
        .await;
    let strict: Value = res.json().await.unwrap();
    assert!(strict["hits"].as_array().unwrap().iter().all(|h| h["score"].as_f64().unwrap() >= 0.9));
    assert_eq!(strict["hits"][0]["document_title"], "Refund policy");
    let usage: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_ai.usage_ledger where operation = 'embedding'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        usage >= (CORPUS.len() + QUESTIONS.len()) as i64,
        "each embedding call is in the ledger"
    );
}

#[tokio::test]
async fn documents_are_chunked_with_overlap_and_duplicates_are_stored_once() {
    let fake = MockServer::start().await;
    mount_embeddings(&fake).await;
    let app = ai_app(&fake, |s| {
        s.ai.knowledge.chunk_chars = 200;
        s.ai.knowledge.chunk_overlap_chars = 40;
    })
    .await;
    let alice = app.signup("alice@example.com").await;
    let kb = create_kb(&app, &alice.token, "Manual").await;
    let p1 = "The espresso machine heats up in about twenty minutes. Always fill the water tank before switching it on, and empty the drip tray daily.";
    let long = format!(
        "{p1}\n\n{}",
        "Descale the boiler every month with the provided solution. ".repeat(8)
    );
    let doc = add_document(
        &app,
        &alice.token,
        &kb,
        json!({"title": "Espresso", "content": long, "format": "markdown"}),
    )
    .await;
    assert_eq!(doc["status"], "ready");
    let chunks: Vec<Value> = app
        .get_as(
            &format!("/api/knowledge/{kb}/documents/{}/chunks", doc["id"].as_str().unwrap()),
            &alice.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(chunks.len() >= 3, "{chunks:?}");
    assert_eq!(chunks[0]["content"], p1, "the first chunk ends at the paragraph break");
    let text: Vec<char> = long.chars().collect();
    for pair in chunks.windows(2) {
        assert!(
            pair[1]["start_offset"].as_i64() < pair[0]["end_offset"].as_i64(),
            "chunks overlap"
        );
    }
    for c in &chunks {
        let (s, e) = (
            c["start_offset"].as_u64().unwrap() as usize,
            c["end_offset"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            c["content"].as_str().unwrap(),
            text[s..e].iter().collect::<String>(),
            "offsets point into the text"
        );
        assert_eq!(c["embedded"], true);
    }

    // The same text again is refused; a document sharing a paragraph stores it once.
    let again = app
        .post_as(&format!("/api/knowledge/{kb}/documents"), &alice.token, &json!({"content": long}))
        .await;
    assert_problem(again, 409).await;
    let shared = add_document(&app, &alice.token, &kb, json!({"title": "Quick start", "content": format!("{p1}\n\nPress the steam button for milk, wait until the light turns green, then froth for thirty seconds and wipe the wand.")})).await;
    assert_eq!(shared["duplicate_chunks"], 1);
    assert_eq!(shared["chunk_count"], 2);
    let stored: i64 =
        sqlx::query_scalar("select count(*) from smartflow_ai.chunks where content = $1")
            .bind(p1)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, 1);

    // HTML loses its markup; a PDF upload is read by the PDF extractor.
    let html = add_document(&app, &alice.token, &kb, json!({"content": "<h1>Grinder</h1><script>x()</script><p>Set the grind to 12 for espresso.</p>", "format": "html"})).await;
    assert_eq!(html["title"], "Grinder");
    // Searched once, so this instance holds the vectors in memory; the new document must
    // still be found by its vector (the cache follows the knowledge base's revision).
    search(&app, &alice.token, &kb, "espresso", 1).await;
    let upload: Value = app
        .upload(
            &alice.token,
            "warranty.pdf",
            &pdf_with_text("Warranty covers two years of repairs"),
        )
        .await
        .json()
        .await
        .unwrap();
    let pdf = add_document(&app, &alice.token, &kb, json!({"upload_id": upload["id"]})).await;
    assert_eq!(pdf["status"], "ready", "{pdf}");
    assert_eq!(pdf["source"], "pdf");
    let hit = search(&app, &alice.token, &kb, "warranty repairs", 1).await;
    assert_eq!(hit["hits"][0]["document_id"], pdf["id"]);
    assert_eq!(hit["hits"][0]["vector_rank"], 1);
    assert!(hit["hits"][0]["content"].as_str().unwrap().contains("Warranty covers two years"));
}

/// A one-page PDF showing `text` in Helvetica, with a correct cross-reference table.
fn pdf_with_text(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

/// A model that answers from its sources: it cites the source whose text has the phrase.
struct CitingModel(&'static str);

impl Respond for CitingModel {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let system = body["messages"][0]["content"].as_str().unwrap_or("").to_string();
        let cited = system
            .split("\n\n")
            .find(|s| s.contains(self.0))
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix('[')))
            .and_then(|s| s.split(']').next())
            .map(str::to_string);
        let answer = match cited {
            Some(n) => format!("You have 30 days [{n}]."),
            None => "I do not know.".to_string(),
        };
        sse(stream_body(&[&answer], 200, 6))
    }
}

#[tokio::test]
async fn a_chat_reply_cites_the_chunk_that_holds_the_answer() {
    let fake = MockServer::start().await;
    mount_embeddings(&fake).await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(CitingModel("within 30 days"))
        .mount(&fake)
        .await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let kb = load_corpus(&app, &alice.token).await;
    let agent = create_agent(
        &app,
        &alice.token,
        json!({"system_prompt": "Answer from the sources.", "knowledge_bases": [kb]}),
    )
    .await;
    let accepted: Value = app
        .post_as(
            "/api/chat",
            &alice.token,
            &json!({"agent_id": agent, "message": "How long do I have to ask for a refund?"}),
        )
        .await
        .json()
        .await
        .unwrap();
    app.run_jobs().await;

    let status: Value = app
        .get_as(&format!("/api/chat/jobs/{}?after=0", accepted["job_id"]), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "completed");
    let citations = status["message"]["citations"].as_array().unwrap();
    assert_eq!(citations.len(), 1, "{status}");
    assert_eq!(citations[0]["document_title"], "Refund policy");
    assert!(citations[0]["snippet"].as_str().unwrap().contains("within 30 days"));
    let chunk_id: String = sqlx::query_scalar("select s.chunk_id::text from smartflow_ai.chunk_sources s join smartflow_ai.documents d on d.id = s.document_id where d.title = 'Refund policy'").fetch_one(&app.db).await.unwrap();
    assert_eq!(citations[0]["chunk_id"], chunk_id.as_str());
    let kinds: Vec<&str> =
        status["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["token", "citation", "done"]);
}

#[tokio::test]
async fn the_tool_loop_fetches_allowed_urls_only_and_stops_at_its_cap() {
    let fake = MockServer::start().await;
    let site = MockServer::start().await;
    Mock::given(matchers::path("/status"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<p>All systems <b>operational</b></p>", "text/html"),
        )
        .mount(&site)
        .await;
    let allowed = format!("{}/status", site.uri());
    // The model asks for the page again and again; the cap stops it.
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(sse(tool_call_body("call_1", "http_fetch", &json!({"url": allowed}))))
        .mount(&fake)
        .await;
    let app = ai_app(&fake, |s| s.ai.tools.allow_private_targets = true).await;
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(
        &app,
        &alice.token,
        json!({
            "tools": [{"type": "http_fetch", "allowed_urls": [allowed]}, {"type": "current_time"}],
            "max_tool_iterations": 3
        }),
    )
    .await;
    let accepted: Value = app
        .post_as(
            "/api/chat",
            &alice.token,
            &json!({"agent_id": agent, "message": "Is the service up?"}),
        )
        .await
        .json()
        .await
        .unwrap();
    app.run_jobs().await;

    let requests = fake.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3, "one model call per allowed iteration");
    let last: Value = serde_json::from_slice(&requests[2].body).unwrap();
    assert_eq!(last["tool_choice"], "none", "the last call must answer in words");
    let tool_results: Vec<&Value> =
        last["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "tool").collect();
    assert!(tool_results[0]["content"].as_str().unwrap().contains("All systems operational"));
    let status: Value = app
        .get_as(&format!("/api/chat/jobs/{}", accepted["job_id"]), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    let calls = status["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "calls asked for on the last turn are not run");
    assert_eq!(calls[0]["is_error"], false);

    // A URL outside the allow-list is refused without being fetched.
    let app2_fake = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(sse(tool_call_body(
            "call_9",
            "http_fetch",
            &json!({"url": format!("{}/admin", site.uri())}),
        )))
        .up_to_n_times(1)
        .mount(&app2_fake)
        .await;
    mount_chat(&app2_fake, &["Sorry."]).await;
    let app2 = ai_app(&app2_fake, |s| s.ai.tools.allow_private_targets = true).await;
    let bob = app2.signup("bob@example.com").await;
    let agent = create_agent(
        &app2,
        &bob.token,
        json!({"tools": [{"type": "http_fetch", "allowed_urls": [allowed]}]}),
    )
    .await;
    let accepted: Value = app2
        .post_as(
            "/api/chat",
            &bob.token,
            &json!({"agent_id": agent, "message": "Open the admin page"}),
        )
        .await
        .json()
        .await
        .unwrap();
    app2.run_jobs().await;
    let status: Value = app2
        .get_as(&format!("/api/chat/jobs/{}", accepted["job_id"]), &bob.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["message"]["tool_calls"][0]["is_error"], true);
    assert!(
        status["message"]["tool_calls"][0]["result_preview"]
            .as_str()
            .unwrap()
            .contains("not allowed")
    );
    assert_eq!(status["message"]["content"], "Sorry.");
    let fetched = site.received_requests().await.unwrap();
    assert!(
        fetched.iter().all(|r| r.url.path() == "/status"),
        "the admin page was never requested"
    );
}

#[tokio::test]
async fn a_chunk_shared_by_two_documents_survives_deleting_either_and_keeps_each_ones_metadata() {
    let fake = MockServer::start().await;
    mount_embeddings(&fake).await;
    let app = ai_app(&fake, |s| {
        s.ai.knowledge.chunk_chars = 200;
        s.ai.knowledge.chunk_overlap_chars = 40;
    })
    .await;
    let alice = app.signup("alice@example.com").await;
    let kb = create_kb(&app, &alice.token, "Manuals").await;
    let shared = "The espresso machine heats up in about twenty minutes. Always fill the water tank before switching it on, and empty the drip tray daily.";
    let manual = add_document(&app, &alice.token, &kb, json!({"title": "Manual", "metadata": {"kind": "manual"},
        "content": format!("{shared}\n\nDescale the boiler every month with the provided solution, then rinse the tank twice with fresh water.")})).await;
    let leaflet_text = format!(
        "{shared}\n\nWelcome to your new machine, and thank you for choosing our coffee equipment today."
    );
    let leaflet = add_document(
        &app,
        &alice.token,
        &kb,
        json!({"title": "Leaflet", "metadata": {"kind": "leaflet"},
        "content": leaflet_text}),
    )
    .await;
    assert_eq!(leaflet["duplicate_chunks"], 1, "{leaflet}");
    let stored = |content: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from smartflow_ai.chunks where content = $1",
            )
            .bind(content)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(stored(shared).await, 1, "stored once");

    // The shared chunk answers for the leaflet with the leaflet's metadata and offsets.
    let res = app
        .post_as(
            &format!("/api/knowledge/{kb}/search"),
            &alice.token,
            &json!({"query": "espresso heats", "top_k": 3, "filter": {"kind": "leaflet"}}),
        )
        .await;
    let hits: Value = res.json().await.unwrap();
    let hit = &hits["hits"][0];
    assert_eq!(hit["content"], shared);
    assert_eq!(hit["document_id"], leaflet["id"]);
    assert_eq!(hit["metadata"], json!({"kind": "leaflet"}));
    let (start, end) = (
        hit["start_offset"].as_u64().unwrap() as usize,
        hit["end_offset"].as_u64().unwrap() as usize,
    );
    assert_eq!(leaflet_text.chars().skip(start).take(end - start).collect::<String>(), shared);

    // Deleting the manual leaves the leaflet's text whole.
    let manual_id = manual["id"].as_str().unwrap();
    let res = app
        .send_as(
            reqwest::Method::DELETE,
            &format!("/api/knowledge/{kb}/documents/{manual_id}"),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(stored(shared).await, 1);
    let leaflet_id = leaflet["id"].as_str().unwrap();
    let chunks: Vec<Value> = app
        .get_as(&format!("/api/knowledge/{kb}/documents/{leaflet_id}/chunks"), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0]["content"], shared);
    let found = search(&app, &alice.token, &kb, "espresso heats", 1).await;
    assert_eq!(found["hits"][0]["document_id"], leaflet["id"]);
    assert_eq!(found["hits"][0]["content"], shared);
    let descale: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_ai.chunks where content like 'Descale the boiler%'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(descale, 0, "text only the manual had is gone with it");

    // The last document using it takes the chunk along.
    app.send_as(
        reqwest::Method::DELETE,
        &format!("/api/knowledge/{kb}/documents/{leaflet_id}"),
        &alice.token,
        None,
    )
    .await;
    assert_eq!(stored(shared).await, 0);
}

#[tokio::test]
async fn a_question_the_knowledge_base_cannot_answer_brings_no_sources() {
    let fake = MockServer::start().await;
    mount_embeddings(&fake).await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(CitingModel("within 30 days"))
        .mount(&fake)
        .await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let kb = load_corpus(&app, &alice.token).await;
    let question = "Which volcano erupted";
    // Vectors always have nearest neighbours; without a floor they come back.
    let res = app
        .post_as(
            &format!("/api/knowledge/{kb}/search"),
            &alice.token,
            &json!({"query": question, "top_k": 3, "min_similarity": 0}),
        )
        .await;
    let unfloored: Value = res.json().await.unwrap();
    assert!(!unfloored["hits"].as_array().unwrap().is_empty(), "{unfloored}");
    let res = app
        .post_as(
            &format!("/api/knowledge/{kb}/search"),
            &alice.token,
            &json!({"query": question, "top_k": 3, "min_similarity": 0.3}),
        )
        .await;
    let floored: Value = res.json().await.unwrap();
    assert_eq!(floored["hits"], json!([]), "{floored}");

    let agent = create_agent(
        &app,
        &alice.token,
        json!({"system_prompt": "Answer from the sources.", "knowledge_bases": [kb]}),
    )
    .await;
    let accepted: Value = app
        .post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": question}))
        .await
        .json()
        .await
        .unwrap();
    app.run_jobs().await;

    let status: Value = app
        .get_as(&format!("/api/chat/jobs/{}", accepted["job_id"]), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "completed");
    assert_eq!(status["message"]["citations"], json!([]));
    let requests = fake.received_requests().await.unwrap();
    let chat = requests.iter().rfind(|r| r.url.path() == "/v1/chat/completions").unwrap();
    let body: Value = serde_json::from_slice(&chat.body).unwrap();
    assert_eq!(body["messages"][0]["content"], "Answer from the sources.", "no sources given");
}

#[tokio::test]
async fn knowledge_bases_stay_in_their_workspace_even_for_agents() {
    let fake = MockServer::start().await;
    mount_embeddings(&fake).await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(CitingModel("within 30 days"))
        .mount(&fake)
        .await;
    let app = ai_app(&fake, |_| {}).await;
    let alice = app.signup("alice@example.com").await;
    let mallory = app.signup("mallory@example.com").await;
    let kb = load_corpus(&app, &alice.token).await;
    let docs: Vec<Value> = app
        .get_as(&format!("/api/knowledge/{kb}/documents"), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    let doc = docs[0]["id"].as_str().unwrap();

    for path in [
        format!("/api/knowledge/{kb}"),
        format!("/api/knowledge/{kb}/documents"),
        format!("/api/knowledge/{kb}/documents/{doc}"),
        format!("/api/knowledge/{kb}/documents/{doc}/chunks"),
    ] {
        assert_problem(app.get_as(&path, &mallory.token).await, 404).await;
    }
    let res = app
        .post_as(
            &format!("/api/knowledge/{kb}/search"),
            &mallory.token,
            &json!({"query": "refund"}),
        )
        .await;
    assert_problem(res, 404).await;
    let res = app
        .post_as(
            &format!("/api/knowledge/{kb}/documents"),
            &mallory.token,
            &json!({"content": "x y z"}),
        )
        .await;
    assert_problem(res, 404).await;
    let listed: Vec<Value> =
        app.get_as("/api/knowledge", &mallory.token).await.json().await.unwrap();
    assert!(listed.is_empty());

    // An agent cannot be given another workspace's knowledge base…
    let res = app
        .post_as(
            "/api/agents",
            &mallory.token,
            &json!({"name": "Spy", "configuration": {"knowledge_bases": [kb]}}),
        )
        .await;
    let problem = assert_problem(res, 422).await;
    assert_eq!(problem["errors"][0]["field"], "configuration.knowledge_bases.0");
    // …and one whose stored configuration names it anyway retrieves nothing from it.
    let agent = create_agent(&app, &mallory.token, json!({"system_prompt": "Answer."})).await;
    sqlx::query(
        "update smartflow_ai.agent_versions set configuration = jsonb_set(configuration, '{knowledge_bases}', $2) \
         where agent_id = $1::uuid",
    )
    .bind(&agent)
    .bind(json!([kb]))
    .execute(&app.db)
    .await
    .unwrap();
    let accepted: Value = app
        .post_as(
            "/api/chat",
            &mallory.token,
            &json!({"agent_id": agent, "message": "How long do I have to ask for a refund?"}),
        )
        .await
        .json()
        .await
        .unwrap();
    app.run_jobs().await;
    let status: Value = app
        .get_as(&format!("/api/chat/jobs/{}", accepted["job_id"]), &mallory.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["message"]["citations"], json!([]));
    let requests = fake.received_requests().await.unwrap();
    let chat = requests.iter().rfind(|r| r.url.path() == "/v1/chat/completions").unwrap();
    let body = String::from_utf8_lossy(&chat.body).to_string();
    assert!(!body.contains("within 30 days"), "alice's text reached mallory's agent");
}

#[tokio::test]
async fn http_fetch_refuses_loopback_targets_unless_allowed() {
    let fake = MockServer::start().await;
    let site = MockServer::start().await;
    Mock::given(matchers::path("/status"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("All systems operational", "text/plain"),
        )
        .mount(&site)
        .await;
    let url = format!("{}/status", site.uri());
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(sse(tool_call_body("call_1", "http_fetch", &json!({"url": url}))))
        .up_to_n_times(1)
        .mount(&fake)
        .await;
    mount_chat(&fake, &["It could not be checked."]).await;
    // The default: private and loopback targets are refused.
    let app = ai_app(&fake, |_| {}).await;
    assert!(!app.settings.ai.tools.allow_private_targets);
    let alice = app.signup("alice@example.com").await;
    let agent = create_agent(
        &app,
        &alice.token,
        json!({"tools": [{"type": "http_fetch", "allowed_urls": [site.uri()]}]}),
    )
    .await;
    let accepted: Value = app
        .post_as("/api/chat", &alice.token, &json!({"agent_id": agent, "message": "Status?"}))
        .await
        .json()
        .await
        .unwrap();
    app.run_jobs().await;

    let status: Value = app
        .get_as(&format!("/api/chat/jobs/{}", accepted["job_id"]), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    let call = &status["message"]["tool_calls"][0];
    assert_eq!(call["is_error"], true, "{status}");
    assert!(call["result_preview"].as_str().unwrap().contains("refused"), "{call}");
    assert!(
        site.received_requests().await.unwrap().is_empty(),
        "nothing reached the loopback site"
    );
}

/// A database on the pgvector server of `TEST_PGVECTOR_URL`, dropped at the end.
struct PgvectorDatabase {
    server: String,
    name: String,
}

impl PgvectorDatabase {
    async fn create(server: &str) -> PgvectorDatabase {
        use sqlx::Connection;
        let name = format!("smartflow_pgvector_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("the pgvector server of TEST_PGVECTOR_URL is reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut conn)
            .await
            .unwrap();
        PgvectorDatabase { server: server.to_string(), name }
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for PgvectorDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            use sqlx::Connection;
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) =
                    sqlx::PgConnection::connect(&format!("{server}/postgres")).await
                {
                    let drop = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// The hybrid corpus where vectors are ranked in SQL by pgvector: against the server of
/// `TEST_PGVECTOR_URL` (scripts/test starts one with scripts/pgvector-server), skipped without.
#[tokio::test]
#[allow(clippy::print_stderr)]
async fn hybrid_search_with_pgvector_ranks_vectors_in_sql() {
    let Ok(server) = std::env::var("TEST_PGVECTOR_URL") else {
        eprintln!("skipped: TEST_PGVECTOR_URL is not set (scripts/pgvector-server provides one)");
        return;
    };
    let database = PgvectorDatabase::create(server.trim_end_matches('/')).await;
    let fake = MockServer::start().await;
    mount_embeddings(&fake).await;
    let url = database.url();
    let app = ai_app(&fake, move |s| {
        s.database.url = smartflow::config::Secret::new(url);
        s.database.migrate_on_start = true;
    })
    .await;
    let has_column: bool = sqlx::query_scalar(
        "select exists (select 1 from information_schema.columns where table_schema = 'smartflow_ai' \
         and table_name = 'chunks' and column_name = 'embedding_vector')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(has_column, "the migration adds the vector column where the extension exists");
    let alice = app.signup("alice@example.com").await;
    let kb = load_corpus(&app, &alice.token).await;

    let hybrid = recall_at_3(&app, &alice.token, &kb, "hybrid").await;
    eprintln!("knowledge recall@3 with pgvector: {hybrid:.2}");
    assert!(hybrid >= 0.9, "hybrid recall@3 with pgvector was {hybrid}");
    let unembedded: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_ai.chunks where embedding_vector is null",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(unembedded, 0);
    // A synonym-only question is found by the vector rank computed in SQL, filters included.
    let res = app
        .post_as(
            &format!("/api/knowledge/{kb}/search"),
            &alice.token,
            &json!({"query": "Which firm delivers my parcel?", "top_k": 3, "filter": {"topic": "Shipping"}}),
        )
        .await;
    let found: Value = res.json().await.unwrap();
    assert_eq!(found["hits"][0]["document_title"], "Shipping", "{found}");
    assert_eq!(found["hits"][0]["vector_rank"], 1);
    let floored = app
        .post_as(
            &format!("/api/knowledge/{kb}/search"),
            &alice.token,
            &json!({"query": "Which volcano erupted", "top_k": 3, "min_similarity": 0.3}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(floored["hits"], json!([]));
    drop(app);
    drop(database);
}
