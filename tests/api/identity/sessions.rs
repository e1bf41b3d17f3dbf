//! The session cache under races with sign-out and role changes, and access tokens bound to
//! the workspace they were issued for.

use reqwest::Method;
use serde_json::{Value, json};
use smartflow::platform::auth::sessions;
use uuid::Uuid;

use crate::helpers::{CacheKind, TestApp, TestUser, assert_problem, spawn_app, spawn_app_with};

async fn session_of(app: &TestApp, user: &TestUser, workspace: &str) -> Uuid {
    sqlx::query_scalar(
        "select id from smartflow_shared.sessions where user_id = $1::uuid and workspace_id = $2::uuid \
         and revoked_at is null order by created_at desc limit 1",
    )
    .bind(&user.user_id)
    .bind(workspace)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// A request reads the live session from the database, sign-out lands, then the request
/// caches what it read: the session must stay dead. (`load` is `fetch_live` + `remember`;
/// the steps are run here in the racing order.)
#[tokio::test]
async fn a_sign_out_racing_a_session_read_wins() {
    for kind in [CacheKind::Redis, CacheKind::Memory] {
        let app = spawn_app_with(kind, |_| {}).await;
        let user = app.signup("racer@example.com").await;
        let id = session_of(&app, &user, &user.workspace_id).await;

        let read = sessions::fetch_live(&app.state, id).await.unwrap().expect("live");
        sessions::revoke(&app.state, id, "signed out").await.unwrap();
        sessions::remember(&app.state, &read).await;

        assert!(sessions::load(&app.state, id).await.unwrap().is_none(), "{kind:?}");
        assert_problem(app.get_as("/api/auth/session", &user.token).await, 401).await;
        let res = app
            .client
            .get(app.url("/api/auth/session"))
            .header("cookie", &user.session_cookie)
            .send()
            .await
            .unwrap();
        assert_problem(res, 401).await;
    }
}

/// The same race with a role change: the old role must not come back for a minute.
#[tokio::test]
async fn a_role_change_racing_a_session_read_wins() {
    let app = spawn_app().await;
    let admin = app.signup("boss@example.com").await;
    let user = app.member(&admin, "staffer@example.com", "user").await;
    let id = session_of(&app, &user, &admin.workspace_id).await;

    let read = sessions::fetch_live(&app.state, id).await.unwrap().expect("live");
    let res = app
        .send_as(
            Method::PATCH,
            &format!("/api/workspaces/{}/members/{}", admin.workspace_id, user.user_id),
            &admin.token,
            Some(&json!({ "role": "viewer" })),
        )
        .await;
    assert_eq!(res.status(), 200);
    sessions::remember(&app.state, &read).await;

    let info: Value = app.get_as("/api/auth/session", &user.token).await.json().await.unwrap();
    assert_eq!(info["role"], "viewer", "the role read before the change is not cached");
}

/// After a workspace switch, access tokens issued for the old workspace stop working; the
/// switch is audited in the workspace it enters.
#[tokio::test]
async fn tokens_issued_before_a_workspace_switch_stop_working() {
    let app = spawn_app().await;
    let host = app.signup("host@example.com").await;
    let guest = app.signup("guest@example.com").await;
    sqlx::query("insert into smartflow_shared.memberships (workspace_id, user_id, role) values ($1::uuid, $2::uuid, 'viewer')")
        .bind(&host.workspace_id)
        .bind(&guest.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    let old = guest.token.clone();
    let info: Value = app.get_as("/api/auth/session", &old).await.json().await.unwrap();
    assert_eq!(info["workspace_id"], guest.workspace_id.as_str());

    let res = app
        .post_as("/api/auth/switch-workspace", &old, &json!({ "workspace_id": host.workspace_id }))
        .await;
    assert_eq!(res.status(), 200);
    let new = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();

    let problem = assert_problem(app.get_as("/api/auth/session", &old).await, 401).await;
    assert!(problem["detail"].as_str().unwrap().contains("another workspace"), "{problem}");
    let info: Value = app.get_as("/api/auth/session", &new).await.json().await.unwrap();
    assert_eq!(info["workspace_id"], host.workspace_id.as_str());
    assert_eq!(info["role"], "viewer");
    // The WebSocket endpoint checks tokens the same way (a plain GET is refused after auth).
    #[cfg(feature = "ai")]
    {
        assert_problem(app.get(&format!("/ws/chat?access_token={old}")).await, 401).await;
        assert_eq!(app.get(&format!("/ws/chat?access_token={new}")).await.status(), 400);
    }

    let audit: Value =
        app.get_as("/api/audit?action=auth.", &host.token).await.json().await.unwrap();
    let switched = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "auth.workspace_switched")
        .unwrap_or_else(|| panic!("no switch in {audit}"));
    assert_eq!(switched["actor_user_id"], guest.user_id.as_str());
    assert_eq!(switched["details"]["from"], guest.workspace_id.as_str());
}

#[tokio::test]
async fn a_sign_in_renews_a_hash_made_at_an_older_cost() {
    // config/test.toml hashes at m=64,t=1; this deployment has since raised the cost.
    let app = spawn_app_with(CacheKind::Memory, |s| s.auth.argon2_iterations = 2).await;
    let user = app.signup("cost@example.com").await;
    let mut old_cost = app.state.settings.auth.clone();
    old_cost.argon2_iterations = 1;
    let old_hash = smartflow::platform::auth::password::hash(&old_cost, crate::helpers::PASSWORD)
        .await
        .unwrap();
    sqlx::query("update smartflow_main.users set password_hash = $2 where id = $1::uuid")
        .bind(&user.user_id)
        .bind(&old_hash)
        .execute(&app.db)
        .await
        .unwrap();

    assert_eq!(app.login("cost@example.com", crate::helpers::PASSWORD).await.status(), 200);
    let stored: String =
        sqlx::query_scalar("select password_hash from smartflow_main.users where id = $1::uuid")
            .bind(&user.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(stored.contains(",t=2,"), "renewed at the configured cost: {stored}");
    assert_ne!(stored, old_hash);
    assert_eq!(
        app.login("cost@example.com", crate::helpers::PASSWORD).await.status(),
        200,
        "the renewed hash verifies"
    );
}
