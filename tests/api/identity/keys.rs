//! API keys delegate their creator's rights: they stop working when the creator leaves the
//! workspace or drops below the key's role, and they see only their own workspace.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app};

async fn key(app: &TestApp, creator: &TestUser, role: &str) -> String {
    let res =
        app.post_as("/api/api-keys", &creator.token, &json!({ "name": role, "role": role })).await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_string()
}

async fn works(app: &TestApp, key: &str) -> bool {
    let status = app.get_as("/api/auth/session", key).await.status().as_u16();
    assert!(status == 200 || status == 401, "unexpected {status}");
    status == 200
}

#[tokio::test]
async fn keys_stop_when_their_creator_loses_the_rights_they_grant() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let creator = app.member(&owner, "creator@example.com", "admin").await;
    let ws = &owner.workspace_id;
    let admin_key = key(&app, &creator, "admin").await;
    let user_key = key(&app, &creator, "user").await;
    let viewer_key = key(&app, &creator, "viewer").await;
    // Used once each, so the look-ups are cached when the changes below happen.
    for k in [&admin_key, &user_key, &viewer_key] {
        assert!(works(&app, k).await);
    }

    let demote = |role: &'static str| {
        let path = format!("/api/workspaces/{ws}/members/{}", creator.user_id);
        let (app, token) = (&app, owner.token.clone());
        async move {
            let res =
                app.send_as(Method::PATCH, &path, &token, Some(&json!({ "role": role }))).await;
            assert_eq!(res.status(), 200);
        }
    };
    demote("user").await;
    let res = app.get_as("/api/auth/session", &admin_key).await;
    let problem = assert_problem(res, 401).await;
    assert!(problem["detail"].as_str().unwrap().contains("creator"), "{problem}");
    assert!(works(&app, &user_key).await, "a user still holds what a user key grants");
    assert!(works(&app, &viewer_key).await);

    demote("viewer").await;
    assert!(!works(&app, &user_key).await);
    assert!(works(&app, &viewer_key).await);

    let res = app
        .send_as(
            Method::DELETE,
            &format!("/api/workspaces/{ws}/members/{}", creator.user_id),
            &owner.token,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert!(!works(&app, &viewer_key).await, "a removed member's keys stop");

    // A disabled account's keys stop too (within the cache's minute; here, at once).
    let key_of_owner = key(&app, &owner, "viewer").await;
    assert!(works(&app, &key_of_owner).await);
    sqlx::query("update smartflow_main.users set disabled_at = now() where id = $1::uuid")
        .bind(&owner.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    smartflow::platform::auth::api_keys::forget_keys_of(
        &app.state,
        owner.user_id.parse().unwrap(),
        None,
    )
    .await;
    assert!(!works(&app, &key_of_owner).await);
}

#[tokio::test]
async fn a_key_sees_only_its_own_workspace() {
    let app = spawn_app().await;
    let owner = app.signup("host@example.com").await;
    // The creator also has a workspace of their own.
    let creator = app.member(&owner, "two-places@example.com", "admin").await;
    let secret = key(&app, &creator, "user").await;

    let me: Value = app.get_as("/api/auth/me", &creator.token).await.json().await.unwrap();
    assert_eq!(me["memberships"].as_array().unwrap().len(), 2, "a person sees all of theirs");

    let me: Value = app.get_as("/api/auth/me", &secret).await.json().await.unwrap();
    let memberships = me["memberships"].as_array().unwrap();
    assert_eq!(memberships.len(), 1, "{me}");
    assert_eq!(memberships[0]["workspace_id"], owner.workspace_id.as_str());
    assert_eq!(memberships[0]["role"], "user", "the key's role");
    assert_eq!(me["workspace"]["role"], "user");

    let listed: Value = app.get_as("/api/workspaces", &secret).await.json().await.unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["workspace_id"], owner.workspace_id.as_str());
    assert_eq!(listed[0]["role"], "user");
    let listed: Value = app.get_as("/api/workspaces", &creator.token).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
}
