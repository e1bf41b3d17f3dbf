//! Contact inquiries: the public form, the two e-mails, and staff resolving them.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::support::{app, app_with, count, fields, outbox, staff, token};
use crate::helpers::{assert_problem, header};

fn message(app: &crate::helpers::TestApp, email: &str) -> Value {
    json!({
        "name": "Katherine Johnson",
        "email": email,
        "company": "Langley",
        "topic": "billing",
        "message": "Can I pay yearly?\nThanks!",
        "form_token": token(app),
    })
}

#[tokio::test]
async fn an_inquiry_is_stored_and_both_emails_are_queued() {
    let app = app().await;
    let res = app.post_json("/api/contact", &message(&app, "kj@example.com")).await;
    assert_eq!(res.status(), 202);
    let (id, topic, status): (Uuid, String, String) =
        sqlx::query_as("select id, topic, status from smartflow_main.inquiries")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((topic.as_str(), status.as_str()), ("billing", "open"));

    let mail = outbox(&app).await;
    assert_eq!(mail.len(), 2);
    let team = &mail[0];
    assert_eq!(team.to, "support@example.com");
    assert_eq!(team.reply_to.as_deref(), Some("kj@example.com"));
    assert!(team.subject.starts_with("Contact: Billing ["), "{}", team.subject);
    assert!(team.text.contains("Can I pay yearly?"));
    assert!(team.text.contains(&format!("/admin/inquiries/{id}")));
    let ack = &mail[1];
    assert_eq!(ack.to, "kj@example.com");
    assert!(ack.text.contains("Katherine Johnson") && ack.text.contains("Billing"));
    assert!(
        !ack.text.contains("Can I pay yearly?"),
        "the acknowledgement never repeats the message"
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from smartflow_shared.events where event_type = 'inquiry.created'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn contact_validation_and_spam_defences() {
    let app = app_with(|s| s.main_site.submissions_per_ip = 2).await;
    let res = app
        .post_json(
            "/api/contact",
            &json!({ "name": "", "email": "x", "topic": "gossip", "message": " " }),
        )
        .await;
    let problem = assert_problem(res, 422).await;
    assert_eq!(fields(&problem), ["name", "email", "topic", "message", "form_token"]);
    assert!(problem["errors"][2]["message"].as_str().unwrap().contains("sales, support, billing"));

    let mut trap = message(&app, "bot@example.com");
    trap["website"] = json!("filled");
    assert_eq!(app.post_json("/api/contact", &trap).await.status(), 202);
    assert_eq!(count(&app, "select count(*) from smartflow_main.inquiries").await, 0);
    assert!(outbox(&app).await.is_empty());

    let problem =
        assert_problem(app.post_json("/api/contact", &message(&app, "a@example.com")).await, 429)
            .await;
    assert!(problem["detail"].as_str().unwrap().contains("Too many forms"));

    // The HTML form goes back to /contact with its errors.
    let form = [("name", "K"), ("email", "k@example.com"), ("message", ""), ("form_token", "")];
    let app = app_with(|_| {}).await;
    let res = app.client.post(app.url("/api/contact")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let location = header(res.headers(), "location");
    assert!(location.starts_with("/contact?form="), "{location}");
    let html = app.get(&location).await.text().await.unwrap();
    assert!(html.contains("This field is required."));
}

#[tokio::test]
async fn staff_list_resolve_and_erase_inquiries() {
    let app = app().await;
    for email in ["one@example.com", "two@example.com"] {
        assert_eq!(app.post_json("/api/contact", &message(&app, email)).await.status(), 202);
    }
    let ops = staff(&app, "ops@example.com").await;
    let page: Value = app.get_as("/api/contact?limit=1", &ops.token).await.json().await.unwrap();
    assert_eq!(page["items"][0]["email"], "two@example.com");
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get_as(&format!("/api/contact?limit=1&cursor={cursor}"), &ops.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"][0]["email"], "one@example.com");

    let id = page["items"][0]["id"].as_str().unwrap();
    let path = format!("/api/contact/{id}");
    let res = app
        .send_as(
            Method::PATCH,
            &path,
            &ops.token,
            Some(&json!({ "status": "resolved", "resolution_note": "Sent yearly pricing." })),
        )
        .await;
    let resolved: Value = res.json().await.unwrap();
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolved_by"], ops.user_id.as_str());
    assert!(resolved["resolved_at"].is_string());
    let open: Value =
        app.get_as("/api/contact?status=open", &ops.token).await.json().await.unwrap();
    assert_eq!(open["items"].as_array().unwrap().len(), 1);
    let res =
        app.send_as(Method::PATCH, &path, &ops.token, Some(&json!({ "status": "closed" }))).await;
    assert_eq!(fields(&assert_problem(res, 422).await), ["status"]);

    let sent_to = |mail: &[smartflow::platform::mail::OutgoingEmail], who: &str| {
        mail.iter().filter(|m| m.to == who || m.reply_to.as_deref() == Some(who)).count()
    };
    let mail = outbox(&app).await;
    assert_eq!((sent_to(&mail, "two@example.com"), sent_to(&mail, "one@example.com")), (2, 2));
    assert_eq!(app.send_as(Method::DELETE, &path, &ops.token, None).await.status(), 204);
    assert_problem(app.get_as(&path, &ops.token).await, 404).await;
    // The notification and the acknowledgement queued for it went with it.
    let mail = outbox(&app).await;
    assert_eq!((sent_to(&mail, "two@example.com"), sent_to(&mail, "one@example.com")), (0, 2));
    let left = count(
        &app,
        "select count(*) from smartflow_shared.events where payload::text like '%two@example.com%'",
    )
    .await;
    assert_eq!(left, 0);
}
