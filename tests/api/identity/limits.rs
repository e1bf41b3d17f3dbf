//! The plan's `members` limit, on invitation and on acceptance.

use serde_json::{Value, json};

use super::set_plan;
use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app_without_workers};

async fn invite(app: &TestApp, admin: &TestUser, email: &str) -> reqwest::Response {
    app.post_as(
        &format!("/api/workspaces/{}/invitations", admin.workspace_id),
        &admin.token,
        &json!({ "email": email, "role": "user" }),
    )
    .await
}

/// The token of the invitation last mailed (the mail job's sealed arguments).
async fn last_invitation_token(app: &TestApp) -> String {
    let sealed: Value = sqlx::query_scalar(
        "select args from smartflow_shared.jobs where kind = 'mail.send' order by id desc limit 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let mail: Value = serde_json::from_str(
        &app.state.cipher.decrypt(sealed["sealed"].as_str().unwrap(), "mail.send").unwrap(),
    )
    .unwrap();
    let text = mail["text"].as_str().unwrap();
    let link = text.lines().find(|l| l.contains("/invite/")).unwrap();
    link.rsplit('/').next().unwrap().trim().to_string()
}

#[tokio::test]
async fn invitations_count_against_the_plans_members() {
    let app = spawn_app_without_workers().await;
    let admin = app.signup("team@example.com").await;
    // Free: one member, the admin.
    let problem = assert_problem(invite(&app, &admin, "one@example.com").await, 402).await;
    assert!(problem["detail"].as_str().unwrap().contains("team members"), "{problem}");

    // Starter: three, pending invitations included.
    set_plan(&app, &admin, "starter").await;
    assert_eq!(invite(&app, &admin, "one@example.com").await.status(), 201);
    assert_eq!(invite(&app, &admin, "two@example.com").await.status(), 201);
    assert_problem(invite(&app, &admin, "three@example.com").await, 402).await;
    let pending: i64 = sqlx::query_scalar("select count(*) from smartflow_shared.invitations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(pending, 2);
}

#[tokio::test]
async fn accepting_checks_the_limit_again() {
    let app = spawn_app_without_workers().await;
    let admin = app.signup("shrinking@example.com").await;
    set_plan(&app, &admin, "starter").await;
    assert_eq!(invite(&app, &admin, "late@example.com").await.status(), 201);
    let token = last_invitation_token(&app).await;
    // The workspace went back to the free plan before the invitation was used.
    set_plan(&app, &admin, "free").await;
    let accept = json!({ "token": token, "password": "late joiner password", "name": "Late" });
    assert_problem(app.post_json("/api/invitations/accept", &accept).await, 402).await;
    let members: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.memberships where workspace_id = $1::uuid",
    )
    .bind(&admin.workspace_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(members, 1);
    let accounts: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_main.users where email = 'late@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(accounts, 0, "nothing half-written");
    // Upgraded again, the same invitation still works.
    set_plan(&app, &admin, "starter").await;
    assert_eq!(app.post_json("/api/invitations/accept", &accept).await.status(), 200);
}
