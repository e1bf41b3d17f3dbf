//! Staff manage the pipeline: who may, filters and pages, the status workflow, erasure, CSV.

use std::collections::HashSet;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::support::{app, count, fields, lead, outbox, staff};
use crate::helpers::{TestApp, assert_problem, header};

/// Inserts `n` leads directly, one a minute apart going back from now.
async fn seed(app: &TestApp, n: i64) {
    sqlx::query(
        "insert into smartflow_main.leads (name, email, email_normalized, company, source, status, created_at) \
         select 'Lead ' || i, 'lead' || i || '@example.com', 'lead' || i || '@example.com', \
           case when i % 7 = 0 then 'Comma, \"Quoted\" Inc' end, \
           case when i % 3 = 0 then 'webinar' else 'homepage' end, \
           case when i % 5 = 0 then 'qualified' else 'new' end, \
           now() - make_interval(mins => i::int) \
         from generate_series(1, $1) as i",
    )
    .bind(n)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn staff_only_routes_reject_everyone_else() {
    let app = app().await;
    app.post_json("/api/leads", &lead(&app, "x@example.com")).await;
    let id: Uuid =
        sqlx::query_scalar("select id from smartflow_main.leads").fetch_one(&app.db).await.unwrap();
    let customer = app.signup("customer@example.com").await;
    let routes = [
        (Method::GET, "/api/leads".to_string(), None),
        (Method::GET, "/api/leads/export.csv".to_string(), None),
        (Method::GET, format!("/api/leads/{id}"), None),
        (Method::PATCH, format!("/api/leads/{id}"), Some(json!({ "status": "contacted" }))),
        (Method::DELETE, format!("/api/leads/{id}"), None),
        (Method::GET, "/api/contact".to_string(), None),
    ];
    for (method, path, body) in &routes {
        let res = app.client.request(method.clone(), app.url(path)).send().await.unwrap();
        assert_problem(res, 401).await;
        let res = app.send_as(method.clone(), path, &customer.token, body.as_ref()).await;
        let problem = assert_problem(res, 403).await;
        assert!(problem["detail"].as_str().unwrap().contains("staff"), "{method} {path}");
    }
    let staff = staff(&app, "ops@example.com").await;
    for (method, path, body) in &routes {
        let res = app.send_as(method.clone(), path, &staff.token, body.as_ref()).await;
        assert!(res.status().is_success(), "{method} {path}: {}", res.status());
    }
    assert_eq!(
        count(&app, "select count(*) from smartflow_main.leads").await,
        0,
        "the DELETE erased it"
    );
}

#[tokio::test]
async fn the_list_filters_searches_and_pages_with_a_cursor() {
    let app = app().await;
    seed(&app, 23).await;
    let staff = staff(&app, "ops@example.com").await;

    let mut seen = Vec::new();
    let mut path = "/api/leads?limit=5".to_string();
    loop {
        let page: Value = app.get_as(&path, &staff.token).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        seen.extend(items.iter().map(|l| l["name"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/leads?limit=5&cursor={c}"),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=23).map(|i| format!("Lead {i}")).collect();
    assert_eq!(seen, expected, "every lead once, newest first");

    let page: Value = app
        .get_as("/api/leads?status=qualified&source=homepage", &staff.token)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Lead 5", "Lead 10", "Lead 20"]);
    let page: Value = app.get_as("/api/leads?q=LEAD1", &staff.token).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 11, "Lead 1 and Lead 10–19");
    let page: Value = app.get_as("/api/leads?q=%25", &staff.token).await.json().await.unwrap();
    assert!(page["items"].as_array().unwrap().is_empty(), "wildcards are searched literally");
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let page: Value = app
        .get_as(&format!("/api/leads?from={tomorrow}"), &staff.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(page["items"].as_array().unwrap().is_empty());

    let res = app.get_as("/api/leads?status=hot&limit=0&cursor=garbage", &staff.token).await;
    let problem = assert_problem(res, 422).await;
    assert_eq!(fields(&problem), ["status", "cursor", "limit"]);
    let res = app.get_as(&format!("/api/leads?from={tomorrow}&to={today}"), &staff.token).await;
    assert_eq!(fields(&assert_problem(res, 422).await), ["to"]);
}

#[tokio::test]
async fn status_owner_and_notes_follow_the_workflow_with_history() {
    let app = app().await;
    app.post_json("/api/leads", &lead(&app, "wf@example.com")).await;
    let id: Uuid =
        sqlx::query_scalar("select id from smartflow_main.leads").fetch_one(&app.db).await.unwrap();
    let ops = staff(&app, "ops@example.com").await;
    let customer = app.signup("not-staff@example.com").await;
    let path = format!("/api/leads/{id}");

    let res = app
        .send_as(Method::PATCH, &path, &ops.token, Some(&json!({ "status": "contacted", "owner_id": ops.user_id, "notes": "Called, voicemail." })))
        .await;
    assert_eq!(res.status(), 200);
    let lead: Value = res.json().await.unwrap();
    assert_eq!(
        (lead["status"].as_str(), lead["owner_id"].as_str()),
        (Some("contacted"), Some(ops.user_id.as_str()))
    );

    // Backwards is refused with the allowed next steps; so is an owner who is not staff.
    let res =
        app.send_as(Method::PATCH, &path, &ops.token, Some(&json!({ "status": "new" }))).await;
    let problem = assert_problem(res, 409).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("qualified, won, lost, spam"),
        "{problem}"
    );
    let res = app
        .send_as(Method::PATCH, &path, &ops.token, Some(&json!({ "owner_id": customer.user_id })))
        .await;
    assert_eq!(fields(&assert_problem(res, 422).await), ["owner_id"]);
    let res =
        app.send_as(Method::PATCH, &path, &ops.token, Some(&json!({ "status": "maybe" }))).await;
    assert_problem(res, 422).await;

    for step in ["qualified", "won"] {
        let res =
            app.send_as(Method::PATCH, &path, &ops.token, Some(&json!({ "status": step }))).await;
        assert_eq!(res.status(), 200, "{step}");
    }
    let res =
        app.send_as(Method::PATCH, &path, &ops.token, Some(&json!({ "owner_id": null }))).await;
    assert_eq!(res.json::<Value>().await.unwrap()["owner_id"], Value::Null);

    let detail: Value = app.get_as(&path, &ops.token).await.json().await.unwrap();
    let kinds: Vec<&str> =
        detail["history"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "submitted",
            "status_changed",
            "owner_changed",
            "notes_changed",
            "status_changed",
            "status_changed",
            "owner_changed"
        ]
    );
    assert_eq!(detail["history"][1]["actor_user_id"], ops.user_id.as_str());
    assert_eq!(detail["next_statuses"], json!([]), "won is final");
    let changes: Vec<(String, Option<Uuid>)> = sqlx::query_as(
        "select payload->>'to', workspace_id from smartflow_shared.events where event_type = 'lead.status_changed' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        changes.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["contacted", "qualified", "won"]
    );
    assert!(
        changes.iter().all(|c| c.1.is_none()),
        "never delivered to the staff member's own workspace"
    );
    assert_problem(
        app.send_as(
            Method::PATCH,
            &format!("/api/leads/{}", Uuid::new_v4()),
            &ops.token,
            Some(&json!({ "notes": "x" })),
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn erasure_removes_the_lead_its_history_and_its_data_in_past_events() {
    let app = app().await;
    app.post_json("/api/leads", &lead(&app, "forget-me@example.com")).await;
    app.post_json("/api/leads", &lead(&app, "keep-me@example.com")).await;
    let id: Uuid = sqlx::query_scalar(
        "select id from smartflow_main.leads where email = 'forget-me@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    // Its notification failed for good: the dead job holds a copy until jobs are pruned.
    sqlx::query(
        "update smartflow_shared.jobs set state = 'dead' \
         where id = (select min(id) from smartflow_shared.jobs where kind = 'mail.send')",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let about = |mail: &[smartflow::platform::mail::OutgoingEmail], who: &str| {
        mail.iter().filter(|m| m.reply_to.as_deref() == Some(who)).count()
    };
    let mail = outbox(&app).await;
    assert_eq!(
        (about(&mail, "forget-me@example.com"), about(&mail, "keep-me@example.com")),
        (1, 1)
    );
    let ops = staff(&app, "ops@example.com").await;
    let before = count(
        &app,
        "select count(*) from smartflow_shared.events where payload::text like '%forget-me%'",
    )
    .await;
    assert_eq!(before, 1);

    let res = app.send_as(Method::DELETE, &format!("/api/leads/{id}"), &ops.token, None).await;
    assert_eq!(res.status(), 204);
    assert_problem(app.get_as(&format!("/api/leads/{id}"), &ops.token).await, 404).await;
    assert_problem(
        app.send_as(Method::DELETE, &format!("/api/leads/{id}"), &ops.token, None).await,
        404,
    )
    .await;
    assert_eq!(count(&app, "select count(*) from smartflow_main.lead_history").await, 1);
    let mail = outbox(&app).await;
    assert_eq!(
        (about(&mail, "forget-me@example.com"), about(&mail, "keep-me@example.com")),
        (0, 1),
        "the queued e-mail about the erased lead is gone, the other one stays"
    );
    for table in
        ["smartflow_shared.events where payload", "smartflow_shared.audit_log where details"]
    {
        let left =
            count(&app, &format!("select count(*) from {table}::text like '%forget-me%'")).await;
        assert_eq!(left, 0, "{table}");
    }
    assert_eq!(
        count(
            &app,
            "select count(*) from smartflow_shared.events where event_type = 'lead.erased'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn the_csv_export_streams_every_lead() {
    let app = app().await;
    seed(&app, 1_234).await;
    sqlx::query("update smartflow_main.leads set company = '=HYPERLINK(\"http://x\")' where name = 'Lead 3'")
        .execute(&app.db)
        .await
        .unwrap();
    let ops = staff(&app, "ops@example.com").await;
    let res = app.get_as("/api/leads/export.csv", &ops.token).await;
    assert_eq!(res.status(), 200);
    assert!(header(res.headers(), "content-type").starts_with("text/csv"));
    assert!(header(res.headers(), "content-disposition").contains("attachment; filename=\"leads-"));
    assert!(res.headers().get("content-length").is_none(), "sent as it is produced, not buffered");
    let mut body = Vec::new();
    let mut chunks = 0;
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1, "the body arrived in parts");
    let text = String::from_utf8(body).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a BOM for spreadsheets");
    let rows = parse_csv(text);
    assert_eq!(rows[0][..4], ["id", "created_at", "name", "email"]);
    assert_eq!(rows.len(), 1_235, "a header and every lead");
    let ids: HashSet<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids.len(), 1_234);
    let quoted = rows.iter().find(|r| r[2] == "Lead 7").unwrap();
    assert_eq!(quoted[4], "Comma, \"Quoted\" Inc");
    let formula = rows.iter().find(|r| r[2] == "Lead 3").unwrap();
    assert!(formula[4].starts_with("'="), "formulas are defused: {}", formula[4]);

    // Filters apply to the export; the export itself is audited.
    let filtered =
        app.get_as("/api/leads/export.csv?status=qualified&source=webinar", &ops.token).await;
    let rows = parse_csv(filtered.text().await.unwrap().trim_start_matches('\u{feff}'));
    assert_eq!(rows.len() - 1, (1..=1_234).filter(|i| i % 15 == 0).count());
    assert_eq!(
        count(
            &app,
            "select count(*) from smartflow_shared.audit_log where action = 'lead.exported'"
        )
        .await,
        2
    );
}

/// A small RFC 4180 reader for the test.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[tokio::test]
async fn the_form_limit_counts_public_posts_not_staff_work() {
    let app = super::support::app_with(|s| {
        let forms = s.rate_limit.groups.iter_mut().find(|g| g.name == "forms").unwrap();
        forms.requests = 2;
    })
    .await;
    let staff = staff(&app, "staff@example.com").await;
    // Reading, exporting, changing and erasing are API calls, however many there are.
    for _ in 0..4 {
        let res = app.get_as("/api/leads", &staff.token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(res.headers(), "ratelimit-limit"), "600");
        assert_eq!(app.get_as("/api/contact", &staff.token).await.status(), 200);
        assert_eq!(app.get_as("/api/leads/export.csv", &staff.token).await.status(), 200);
    }
    // Public posts count against the form group.
    for i in 0..2 {
        let res = app.post_json("/api/leads", &lead(&app, &format!("l{i}@example.com"))).await;
        assert_eq!(res.status(), 202);
        assert_eq!(header(res.headers(), "ratelimit-limit"), "2");
    }
    let res = app.post_json("/api/leads", &lead(&app, "l3@example.com")).await;
    assert_problem(res, 429).await;
    assert_eq!(app.get_as("/api/leads", &staff.token).await.status(), 200);
}
