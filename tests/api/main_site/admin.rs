//! The staff dashboard: access, every page, form posts with CSRF, the chart, job retry.

use serde_json::json;
use uuid::Uuid;

use super::support::{app, count, lead, staff};
use crate::helpers::{TestApp, TestUser, cookie_named, header};

/// A browser-like GET with the user's session cookie; returns (status, csrf cookie, body).
async fn browse(app: &TestApp, user: &TestUser, path: &str) -> (u16, String, String) {
    let res =
        app.client.get(app.url(path)).header("cookie", &user.session_cookie).send().await.unwrap();
    let status = res.status().as_u16();
    let csrf = cookie_named(res.headers(), "sf_csrf").unwrap_or_default();
    (status, csrf, res.text().await.unwrap())
}

async fn post_form(
    app: &TestApp,
    user: &TestUser,
    csrf: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    post_form_with(app, user, csrf, csrf.trim_start_matches("sf_csrf="), path, form).await
}

async fn post_form_with(
    app: &TestApp,
    user: &TestUser,
    csrf: &str,
    token: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    fields.push(("csrf_token", token));
    app.client
        .post(app.url(path))
        .header("cookie", format!("{}; {csrf}", user.session_cookie))
        .form(&fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_staff_see_the_dashboard() {
    let app = app().await;
    let res = app.get("/admin/leads?status=new").await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(res.headers(), "location"), "/login?next=%2Fadmin%2Fleads%3Fstatus%3Dnew");
    let customer = app.signup("customer@example.com").await;
    let (status, _, html) = browse(&app, &customer, "/admin").await;
    assert_eq!(status, 403);
    assert!(html.contains("for SmartFlow staff only"));

    let ops = staff(&app, "ops@example.com").await;
    for (path, expect) in [
        ("/admin", "Leads per day by source"),
        ("/admin/leads", "Export CSV"),
        ("/admin/inquiries", "Inquiries"),
        ("/admin/users", "customer@example.com"),
        ("/admin/workspaces", "Workspaces"),
        ("/admin/subscriptions", "Latest Stripe events"),
        ("/admin/jobs", "Failed jobs"),
    ] {
        let (status, _, html) = browse(&app, &ops, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains(expect), "{path} lacks {expect}");
        assert!(html.contains("noindex"), "{path} is private");
    }
}

#[tokio::test]
async fn the_chart_draws_leads_per_day_by_source() {
    let app = app().await;
    sqlx::query(
        "insert into smartflow_main.leads (name, email, email_normalized, source, status, created_at) values \
         ('A', 'a@x.io', 'a@x.io', 'homepage', 'new', now()), \
         ('B', 'b@x.io', 'b@x.io', 'homepage', 'new', now() - interval '1 day'), \
         ('C', 'c@x.io', 'c@x.io', 'webinar', 'won', now()), \
         ('D', 'd@x.io', 'd@x.io', 'webinar', 'spam', now())",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let ops = staff(&app, "ops@example.com").await;
    let (_, _, html) = browse(&app, &ops, "/admin").await;
    assert!(html.contains("<svg class=\"chart-svg\""));
    assert!(html.contains("3 leads in 30 days; homepage: 2; webinar: 1."), "spam is left out");
    assert_eq!(html.matches("<rect x=").count(), 3, "one bar segment per day and source");
    assert!(html.contains("from webinar</title>"));
    assert!(html.contains("<th scope=\"col\">homepage</th>"), "the numbers as a table too");
}

#[tokio::test]
async fn staff_change_a_lead_from_the_table_with_csrf() {
    let app = app().await;
    app.post_json("/api/leads", &lead(&app, "table@example.com")).await;
    let id: Uuid =
        sqlx::query_scalar("select id from smartflow_main.leads").fetch_one(&app.db).await.unwrap();
    let ops = staff(&app, "ops@example.com").await;
    let (_, csrf, html) = browse(&app, &ops, "/admin/leads?status=new").await;
    assert!(html.contains(&format!("action=\"/admin/leads/{id}\"")));
    assert!(html.contains("<option value=\"contacted\">Contacted</option>"));

    let res = post_form_with(
        &app,
        &ops,
        &csrf,
        "not-the-token",
        &format!("/admin/leads/{id}"),
        &[("status", "contacted")],
    )
    .await;
    assert_eq!(res.status(), 403, "without the page's CSRF token");
    let res = post_form(
        &app,
        &ops,
        &csrf,
        &format!("/admin/leads/{id}"),
        &[("status", "contacted"), ("return_to", "/admin/leads?status=new")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(res.headers(), "location"), "/admin/leads?status=new&notice=updated");
    let status: String = sqlx::query_scalar("select status from smartflow_main.leads")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "contacted");

    // The detail page assigns the owner and notes; a foreign return path is not followed.
    let res = post_form(
        &app,
        &ops,
        &csrf,
        &format!("/admin/leads/{id}"),
        &[
            ("status", "contacted"),
            ("owner_id", &ops.user_id),
            ("notes", "Demo on Friday"),
            ("return_to", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(header(res.headers(), "location"), format!("/admin/leads/{id}?notice=updated"));
    let (_, _, html) = browse(&app, &ops, &format!("/admin/leads/{id}")).await;
    assert!(html.contains("Demo on Friday") && html.contains("Status new → contacted"));
    assert!(html.contains("Owner set to ops@example.com"));

    let res = post_form(&app, &ops, &csrf, &format!("/admin/leads/{id}/erase"), &[]).await;
    assert_eq!(header(res.headers(), "location"), "/admin/leads?notice=erased");
    assert_eq!(count(&app, "select count(*) from smartflow_main.leads").await, 0);
}

#[tokio::test]
async fn inquiries_are_resolved_and_failed_jobs_retried_from_the_dashboard() {
    let app = app().await;
    let body = json!({ "name": "Mary", "email": "mary@example.com", "topic": "support", "message": "Help!", "form_token": super::support::token(&app) });
    assert_eq!(app.post_json("/api/contact", &body).await.status(), 202);
    let id: Uuid = sqlx::query_scalar("select id from smartflow_main.inquiries")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let job: i64 = sqlx::query_scalar(
        "insert into smartflow_shared.jobs (queue, kind, args, state, attempt, max_attempts, last_error, finished_at) \
         values ('default', 'demo.broken', '{}', 'dead', 3, 3, 'connection refused by upstream', now()) returning id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let ops = staff(&app, "ops@example.com").await;

    let (_, csrf, html) = browse(&app, &ops, "/admin/inquiries?status=open").await;
    assert!(html.contains("Help!"));
    let res = post_form(
        &app,
        &ops,
        &csrf,
        &format!("/admin/inquiries/{id}"),
        &[("status", "resolved"), ("return_to", "/admin/inquiries?status=open")],
    )
    .await;
    assert_eq!(header(res.headers(), "location"), "/admin/inquiries?status=open&notice=resolved");
    let status: String = sqlx::query_scalar("select status from smartflow_main.inquiries")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "resolved");

    let (_, _, html) = browse(&app, &ops, "/admin/jobs").await;
    assert!(html.contains("demo.broken") && html.contains("connection refused by upstream"));
    let res = post_form(&app, &ops, &csrf, &format!("/admin/jobs/{job}/retry"), &[]).await;
    assert_eq!(header(res.headers(), "location"), "/admin/jobs?notice=retried");
    let (state, max): (String, i32) =
        sqlx::query_as("select state, max_attempts from smartflow_shared.jobs where id = $1")
            .bind(job)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), max), ("available", 4));
    assert_eq!(
        count(&app, "select count(*) from smartflow_shared.audit_log where action = 'job.retried'")
            .await,
        1
    );
    // Retrying a job that is not dead is refused.
    let res = post_form(&app, &ops, &csrf, &format!("/admin/jobs/{job}/retry"), &[]).await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn subscriptions_are_listed_page_by_page() {
    let app = app().await;
    let ops = staff(&app, "ops@example.com").await;
    sqlx::query(
        "with w as ( \
           insert into smartflow_shared.workspaces (name) \
           select 'Customer ' || lpad(i::text, 2, '0') from generate_series(1, 55) as i returning id, name) \
         insert into smartflow_shared.subscriptions (workspace_id, plan_id, status, updated_at) \
         select id, 'pro', case when name = 'Customer 07' then 'past_due' else 'active' end, \
           now() - make_interval(mins => substr(name, 10)::int) from w",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let (_, _, first) = browse(&app, &ops, "/admin/subscriptions").await;
    assert!(first.contains("Customer 01") && first.contains("Customer 50"));
    assert!(!first.contains("Customer 51"));
    let at =
        first.find("href=\"/admin/subscriptions?cursor=").expect("a link to the next page") + 6;
    let next = first[at..].split('"').next().unwrap().replace("&amp;", "&");
    let (status, _, second) = browse(&app, &ops, &next).await;
    assert_eq!(status, 200);
    assert!(second.contains("Customer 51") && second.contains("Customer 55"));
    assert!(!second.contains("Customer 50"));
    assert!(!second.contains("Older changes"), "the last page has no next link");
    // A filter keeps to its rows.
    let (_, _, past_due) = browse(&app, &ops, "/admin/subscriptions?status=past_due").await;
    assert!(past_due.contains("Customer 07") && !past_due.contains("Customer 01"));
}
