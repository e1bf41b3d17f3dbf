//! The public lead form: validation, spam defences, dedupe, notifications, HTML form posts.

use serde_json::{Value, json};
use uuid::Uuid;

use super::support::{
    app, app_with, count, field_code, fields, lead, outbox, staff, token, token_aged,
};
use crate::helpers::{assert_problem, header};

#[tokio::test]
async fn validation_errors_are_problem_json_naming_each_bad_field() {
    let app = app().await;
    let res = app
        .post_json(
            "/api/leads",
            &json!({
                "name": "  ",
                "email": "not-an-address",
                "phone": "call me maybe",
                "source": "Bad source!",
                "company": "line\nbreak",
                "message": "x".repeat(5_001),
            }),
        )
        .await;
    let problem = assert_problem(res, 422).await;
    let bad = fields(&problem);
    for field in ["name", "email", "phone", "source", "company", "message", "form_token"] {
        assert!(bad.contains(&field.to_string()), "{field} missing from {bad:?}");
    }
    assert_eq!(field_code(&problem, "email"), "invalid_email");
    assert_eq!(field_code(&problem, "form_token"), "required");
    assert_eq!(count(&app, "select count(*) from smartflow_main.leads").await, 0);

    // Malformed JSON is a 400, a wrong content type a 415: both problem documents.
    assert_problem(app.post_raw("/api/leads", "application/json", "{").await, 400).await;
    assert_problem(app.post_raw("/api/leads", "text/plain", "hello").await, 415).await;
}

#[tokio::test]
async fn a_form_sent_too_fast_or_with_a_forged_token_is_refused() {
    let app = app().await;
    let mut body = lead(&app, "fast@example.com");
    body["form_token"] = json!(token_aged(&app, 500));
    let problem = assert_problem(app.post_json("/api/leads", &body).await, 422).await;
    assert_eq!(field_code(&problem, "form_token"), "too_fast");
    assert_eq!(fields(&problem), ["form_token"], "the other fields were fine");

    body["form_token"] = json!(token_aged(&app, 3 * 86_400_000));
    let problem = assert_problem(app.post_json("/api/leads", &body).await, 422).await;
    assert_eq!(field_code(&problem, "form_token"), "expired");

    let forged = token(&app).replace("v2.", "v2.1");
    body["form_token"] = json!(forged);
    let problem = assert_problem(app.post_json("/api/leads", &body).await, 422).await;
    assert_eq!(field_code(&problem, "form_token"), "invalid");

    // The token endpoint hands out fresh tokens with the waiting time.
    let t: Value = app.get("/api/forms/token").await.json().await.unwrap();
    assert_eq!(t["submit_after_secs"], 3);
    body["form_token"] = t["token"].clone();
    let problem = assert_problem(app.post_json("/api/leads", &body).await, 422).await;
    assert_eq!(field_code(&problem, "form_token"), "too_fast");
    assert_eq!(count(&app, "select count(*) from smartflow_main.leads").await, 0);
}

#[tokio::test]
async fn a_form_token_is_accepted_once() {
    let app = app().await;
    let t = token(&app);
    let mut body = lead(&app, "once@example.com");
    body["form_token"] = json!(t);
    assert_eq!(app.post_json("/api/leads", &body).await.status(), 202);
    // A bot replaying the page it fetched once is refused, whatever it sends.
    body["email"] = json!("twice@example.com");
    let problem = assert_problem(app.post_json("/api/leads", &body).await, 422).await;
    assert_eq!(field_code(&problem, "form_token"), "used");
    let contact = json!({
        "name": "Bot", "email": "bot@example.com", "topic": "sales",
        "message": "Do you integrate with my CRM?", "form_token": t,
    });
    let problem = assert_problem(app.post_json("/api/contact", &contact).await, 422).await;
    assert_eq!(field_code(&problem, "form_token"), "used");
    assert_eq!(count(&app, "select count(*) from smartflow_main.leads").await, 1);
    assert_eq!(count(&app, "select count(*) from smartflow_main.inquiries").await, 0);

    // A token whose submission had mistakes is still good once they are fixed.
    let t = token(&app);
    let mut body = lead(&app, "not-an-address");
    body["form_token"] = json!(t);
    assert_eq!(
        fields(&assert_problem(app.post_json("/api/leads", &body).await, 422).await),
        ["email"]
    );
    body["email"] = json!("fixed@example.com");
    assert_eq!(app.post_json("/api/leads", &body).await.status(), 202);

    // Each page shows a form with its own token, so people without JavaScript are not affected.
    let token_of = |html: &str| {
        let marker = "name=\"form_token\" value=\"";
        let at = html.find(marker).unwrap() + marker.len();
        html[at..].split('"').next().unwrap().to_string()
    };
    let first = token_of(&app.get("/demo").await.text().await.unwrap());
    let second = token_of(&app.get("/demo").await.text().await.unwrap());
    assert_ne!(first, second);
}

#[tokio::test]
async fn load_tests_can_reuse_a_token_when_the_single_use_check_is_off() {
    let app = app_with(|s| s.main_site.single_use_form_tokens = false).await;
    let t = token(&app);
    for email in ["a@example.com", "b@example.com"] {
        let mut body = lead(&app, email);
        body["form_token"] = json!(t);
        assert_eq!(app.post_json("/api/leads", &body).await.status(), 202);
    }
}

#[tokio::test]
async fn a_new_lead_is_stored_with_its_notification_and_event_in_one_go() {
    let app = app().await;
    let res = app.post_json("/api/leads", &lead(&app, " Ada@Example.COM ")).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({ "status": "received" }));

    let (id, email, normalized, source, utm, consent_at): (Uuid, String, String, String, String, bool) =
        sqlx::query_as(
            "select id, email, email_normalized, source, utm_campaign, consent_at is not null from smartflow_main.leads",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((email.as_str(), normalized.as_str()), ("ada@example.com", "ada@example.com"));
    assert_eq!((source.as_str(), utm.as_str(), consent_at), ("homepage", "autumn", true));

    let mail = outbox(&app).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, "sales@example.com");
    assert_eq!(mail[0].subject, "New lead: Ada Lovelace");
    assert_eq!(mail[0].reply_to.as_deref(), Some("ada@example.com"));
    assert!(mail[0].text.contains(&format!("/admin/leads/{id}")), "{}", mail[0].text);
    assert!(mail[0].text.contains("We want to automate our follow-ups."));

    let (kind, workspace): (String, Option<Uuid>) = sqlx::query_as(
        "select event_type, workspace_id from smartflow_shared.events where subject_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(kind, "lead.created");
    assert_eq!(workspace, None, "leads belong to the platform, not a workspace");
    assert_eq!(
        count(
            &app,
            "select count(*) from smartflow_shared.audit_log where action = 'lead.created'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, "select count(*) from smartflow_shared.jobs where kind = 'events.dispatch'")
            .await,
        1
    );
    // The jobs run: the e-mail goes out through the configured transport.
    assert!(app.run_jobs().await >= 2);
    assert_eq!(
        count(&app, "select count(*) from smartflow_shared.jobs where state <> 'completed'").await,
        0
    );
}

#[tokio::test]
async fn a_repeat_submission_joins_the_existing_lead_history() {
    let app = app().await;
    let mut first = lead(&app, "grace@example.com");
    first["company"] = Value::Null;
    assert_eq!(app.post_json("/api/leads", &first).await.status(), 202);
    let mut again = lead(&app, "  GRACE@example.com");
    again["name"] = json!("Grace H.");
    again["message"] = json!("Following up: can we talk on Friday?");
    again["company"] = json!("Navy Labs");
    again["source"] = json!("demo");
    assert_eq!(app.post_json("/api/leads", &again).await.status(), 202);

    assert_eq!(count(&app, "select count(*) from smartflow_main.leads").await, 1);
    let (id, name, company, submissions): (Uuid, String, String, i32) =
        sqlx::query_as("select id, name, company, submission_count from smartflow_main.leads")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(name, "Ada Lovelace", "the first name stays; the new one is in the history");
    assert_eq!(company, "Navy Labs", "a blank is filled by a later submission");
    assert_eq!(submissions, 2);

    let staff = staff(&app, "ops@example.com").await;
    let detail: Value =
        app.get_as(&format!("/api/leads/{id}"), &staff.token).await.json().await.unwrap();
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|h| h["kind"] == "submitted"));
    assert_eq!(history[1]["data"]["message"], "Following up: can we talk on Friday?");
    assert_eq!(history[1]["data"]["name"], "Grace H.");
    assert_eq!(history[1]["data"]["source"], "demo");

    let kinds: Vec<String> = sqlx::query_scalar(
        "select event_type from smartflow_shared.events where subject_type = 'lead' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(kinds, ["lead.created", "lead.resubmitted"]);
    let subjects: Vec<String> = outbox(&app).await.into_iter().map(|m| m.subject).collect();
    assert_eq!(subjects, ["New lead: Ada Lovelace", "Returning lead: Grace H."]);
}

#[tokio::test]
async fn the_honeypot_accepts_quietly_and_stores_nothing() {
    let app = app().await;
    let mut body = lead(&app, "bot@example.com");
    body["website"] = json!("http://cheap-pills.example");
    let res = app.post_json("/api/leads", &body).await;
    assert_eq!(res.status(), 202, "a bot is not told it was caught");
    assert_eq!(res.json::<Value>().await.unwrap(), json!({ "status": "received" }));

    let form = [
        ("name", "Bot"),
        ("email", "bot2@example.com"),
        ("website", "x"),
        ("form_token", &token(&app)),
    ];
    let res = app.client.post(app.url("/api/leads")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(header(res.headers(), "location"), "/thanks?form=lead");

    assert_eq!(count(&app, "select count(*) from smartflow_main.leads").await, 0);
    assert!(outbox(&app).await.is_empty());
    assert_eq!(count(&app, "select count(*) from smartflow_shared.events").await, 0);
}

#[tokio::test]
async fn submissions_are_limited_per_address_and_per_email() {
    let app = app_with(|s| {
        s.main_site.submissions_per_ip = 4;
        s.main_site.submissions_per_email = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.post_json("/api/leads", &lead(&app, "same@example.com")).await.status(),
            202
        );
    }
    let res = app.post_json("/api/leads", &lead(&app, "same@example.com")).await;
    let retry = header(res.headers(), "retry-after");
    let problem = assert_problem(res, 429).await;
    assert!(problem["detail"].as_str().unwrap().contains("for this e-mail address"), "{problem}");
    assert!(retry.parse::<u64>().unwrap() >= 1);

    // Another address is fine until the network's allowance (4) is spent.
    assert_eq!(app.post_json("/api/leads", &lead(&app, "other@example.com")).await.status(), 202);
    let problem =
        assert_problem(app.post_json("/api/leads", &lead(&app, "third@example.com")).await, 429)
            .await;
    assert!(problem["detail"].as_str().unwrap().contains("from your network"), "{problem}");
    assert_eq!(count(&app, "select count(*) from smartflow_main.leads").await, 2);
    assert_eq!(count(&app, "select submission_count::int8 from smartflow_main.leads where email = 'same@example.com'").await, 2);
}

#[tokio::test]
async fn limits_are_off_when_rate_limiting_is_off() {
    let app = app_with(|s| {
        s.rate_limit.enabled = false;
        s.main_site.submissions_per_email = 1;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.post_json("/api/leads", &lead(&app, "load@example.com")).await.status(),
            202
        );
    }
}

#[tokio::test]
async fn an_html_form_post_redirects_to_thanks_or_back_to_its_errors() {
    let app = app().await;
    let t = token(&app);
    let ok = [
        ("name", "Alan Turing"),
        ("email", "alan@example.com"),
        ("consent", "on"),
        ("source", "demo"),
        ("form_token", t.as_str()),
        ("return_to", "/demo"),
        ("utm_source", "ads"),
    ];
    let res = app.client.post(app.url("/api/leads")).form(&ok).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(header(res.headers(), "location"), "/thanks?form=lead");
    let (consent, utm): (bool, String) =
        sqlx::query_as("select consent, utm_source from smartflow_main.leads")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(consent);
    assert_eq!(utm, "ads");

    let bad = [
        ("name", "Alan <b>Turing</b>"),
        ("email", "alan-at-example"),
        ("form_token", t.as_str()),
        ("return_to", "/demo?utm_source=ads"),
    ];
    let res = app.client.post(app.url("/api/leads")).form(&bad).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let location = header(res.headers(), "location");
    assert!(location.starts_with("/demo?utm_source=ads&form="), "{location}");
    let page = app.get(&location).await;
    assert_eq!(header(page.headers(), "cache-control"), "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("Enter an e-mail address like name@example.com."), "errors are shown");
    assert!(html.contains("value=\"alan-at-example\""), "typed values are kept");
    assert!(html.contains("Turing") && !html.contains("<b>Turing</b>"), "and escaped");
    assert!(html.contains("aria-invalid=\"true\""));
    // Read once: a reload shows a fresh form with a note.
    let again = app.get(&location).await.text().await.unwrap();
    assert!(again.contains("have expired"));
    assert!(!again.contains("value=\"alan-at-example\""));

    // Only paths on this site are returned to.
    let evil = [("name", ""), ("form_token", t.as_str()), ("return_to", "https://evil.example/")];
    let res = app.client.post(app.url("/api/leads")).form(&evil).send().await.unwrap();
    assert!(header(res.headers(), "location").starts_with("/demo?form="));
}

#[tokio::test]
async fn a_lead_marked_as_spam_writes_again_without_paging_sales() {
    let app = app().await;
    app.post_json("/api/leads", &lead(&app, "pest@example.com")).await;
    sqlx::query("update smartflow_main.leads set status = 'spam'").execute(&app.db).await.unwrap();
    assert_eq!(app.post_json("/api/leads", &lead(&app, "pest@example.com")).await.status(), 202);
    assert_eq!(outbox(&app).await.len(), 1, "only the first submission was sent to sales");
    assert_eq!(count(&app, "select count(*) from smartflow_main.lead_history").await, 2);
    assert_eq!(
        count(&app, "select count(*) from smartflow_main.leads where status = 'spam'").await,
        1
    );
}
