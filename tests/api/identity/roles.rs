//! The seed's permission table on real routes (admin: read, write, delete, manage_users; user:
//! read, write_own; viewer: read), and `write_own` wherever a `user` changes or deletes
//! something: one rule, a `user` changes and deletes only what they created.

use serde_json::{Value, json};

use super::{CSRF, session_cookie_in, set_plan};
use crate::helpers::{TestApp, TestUser, assert_problem, header, spawn_app};

/// Re-attributes a record to `owner`, as if they had created it.
#[cfg(feature = "ai")]
async fn owned_by(app: &TestApp, table: &str, id: &str, owner: &TestUser) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "update {table} set created_by = $2::uuid where id = $1::uuid"
    )))
    .bind(id)
    .bind(&owner.user_id)
    .execute(&app.db)
    .await
    .unwrap();
}

/// 3 roles × {read, create, edit own, edit other's, delete own, delete other's, manage users}
/// on agents (a sample resource with every kind of access).
#[cfg(feature = "ai")]
#[tokio::test]
async fn every_role_gets_exactly_its_permissions() {
    let app = spawn_app().await;
    let admin = app.signup("admin@example.com").await;
    let user = app.member(&admin, "user@example.com", "user").await;
    let viewer = app.member(&admin, "viewer@example.com", "viewer").await;
    let ws = admin.workspace_id.clone();

    let new_agent = |owner: &TestUser| {
        let (app, admin, owner) = (&app, &admin, owner.clone());
        async move {
            let res = app
                .post_as(
                    "/api/agents",
                    &admin.token,
                    &json!({"name": "Sample", "configuration": {}}),
                )
                .await;
            assert_eq!(res.status(), 201);
            let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
            owned_by(app, "smartflow_ai.agents", &id, &owner).await;
            id
        }
    };
    let edit = json!({"name": "Renamed", "configuration": {}});

    //                          read create  own  other  del-own del-other manage
    let table: [(&TestUser, &TestUser, [u16; 7]); 3] = [
        (&admin, &user, [200, 201, 200, 200, 204, 204, 200]),
        (&user, &admin, [200, 201, 200, 403, 204, 403, 403]),
        (&viewer, &admin, [200, 403, 403, 403, 403, 403, 403]),
    ];
    for (who, other, expected) in table {
        let (mine, theirs) = (new_agent(who).await, new_agent(other).await);
        let (mine_del, theirs_del) = (new_agent(who).await, new_agent(other).await);
        let t = &who.token;
        let responses = [
            app.get_as(&format!("/api/agents/{theirs}"), t).await,
            app.post_as("/api/agents", t, &json!({"name": "Own", "configuration": {}})).await,
            app.send_as(reqwest::Method::PUT, &format!("/api/agents/{mine}"), t, Some(&edit)).await,
            app.send_as(reqwest::Method::PUT, &format!("/api/agents/{theirs}"), t, Some(&edit))
                .await,
            app.send_as(reqwest::Method::DELETE, &format!("/api/agents/{mine_del}"), t, None).await,
            app.send_as(reqwest::Method::DELETE, &format!("/api/agents/{theirs_del}"), t, None)
                .await,
            app.get_as(&format!("/api/workspaces/{ws}/invitations"), t).await,
        ];
        let names = [
            "read",
            "create",
            "edit own",
            "edit other's",
            "delete own",
            "delete other's",
            "manage users",
        ];
        for ((res, want), name) in responses.into_iter().zip(expected).zip(names) {
            assert_eq!(res.status(), want, "{} may {name}?", who.email);
            if want == 403 {
                let problem = assert_problem(res, 403).await;
                assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
            }
        }
    }
}

/// A `user` adds documents only to knowledge bases they created.
#[cfg(feature = "ai")]
#[tokio::test]
async fn users_add_documents_only_to_their_own_knowledge_bases() {
    let app = crate::helpers::spawn_app_with(crate::helpers::CacheKind::Redis, |s| {
        s.process.workers = false;
        s.process.cron = false;
    })
    .await;
    let admin = app.signup("kb-admin@example.com").await;
    set_plan(&app, &admin, "business").await;
    let user = app.member(&admin, "kb-user@example.com", "user").await;
    let kb = |token: String| {
        let app = &app;
        async move {
            let res = app.post_as("/api/knowledge", &token, &json!({"name": "Docs"})).await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
        }
    };
    let admins = kb(admin.token.clone()).await;
    let own = kb(user.token.clone()).await;
    let doc = json!({"title": "Hours", "content": "We open at nine."});
    let res = app.post_as(&format!("/api/knowledge/{admins}/documents"), &user.token, &doc).await;
    assert_problem(res, 403).await;
    let count: i64 = sqlx::query_scalar("select count(*) from smartflow_ai.documents")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing was added");
    let res = app.post_as(&format!("/api/knowledge/{own}/documents"), &user.token, &doc).await;
    assert_eq!(res.status(), 202);
    let res = app
        .post_as(
            &format!("/api/knowledge/{own}/documents"),
            &admin.token,
            &json!({"content": "Closed on Sundays."}),
        )
        .await;
    assert_eq!(res.status(), 202, "admins write anywhere");
}

/// Time slots change an account's queue: only its creator (or an admin) may.
#[cfg(feature = "social")]
#[tokio::test]
async fn users_change_slots_only_of_accounts_they_linked() {
    use crate::social::{NewAccount, account, setup};
    let s = setup().await;
    let user = s.app.member(&s.owner, "slots-user@example.com", "user").await;
    let new = |remote: &'static str| NewAccount {
        platform: "x",
        remote_id: remote,
        access: "token",
        refresh: None,
        expires_at: None,
        instance_url: None,
    };
    let owners = account(&s.app, &s.owner, new("1")).await;
    let own = account(&s.app, &user, new("2")).await;
    let slot = json!({"weekday": "monday", "time": "09:30"});

    let res = s.app.post_as(&format!("/api/accounts/{owners}/slots"), &user.token, &slot).await;
    assert_problem(res, 403).await;
    let res = s.app.post_as(&format!("/api/accounts/{owners}/slots"), &s.owner.token, &slot).await;
    assert_eq!(res.status(), 201);
    let owners_slot = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res = s
        .app
        .send_as(
            reqwest::Method::DELETE,
            &format!("/api/accounts/{owners}/slots/{owners_slot}"),
            &user.token,
            None,
        )
        .await;
    assert_problem(res, 403).await;

    // The page forms follow the same rule.
    let cookie = format!("{}; sf_csrf={CSRF}", session_cookie_in(&s.app, &user).await);
    let res = s
        .app
        .client
        .post(s.app.url(&format!("/app/social/accounts/{owners}/slots/{owners_slot}/delete")))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={CSRF}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(header(res.headers(), "location").contains("error="));
    let res = s
        .app
        .client
        .post(s.app.url(&format!("/app/social/accounts/{owners}/slots")))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={CSRF}&weekday=tuesday&time=10%3A00"))
        .send()
        .await
        .unwrap();
    assert!(header(res.headers(), "location").contains("error="));
    let slots: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_social.time_slots where account_id = $1",
    )
    .bind(owners)
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(slots, 1, "the owner's queue is as the owner left it");

    let res = s.app.post_as(&format!("/api/accounts/{own}/slots"), &user.token, &slot).await;
    assert_eq!(res.status(), 201, "their own account");
}

/// Posts follow the same delete rule as everything else.
#[cfg(feature = "social")]
#[tokio::test]
async fn users_delete_only_their_own_posts_and_admins_any() {
    use crate::social::{create_post, setup, x_account};
    let s = setup().await;
    let user = s.app.member(&s.owner, "poster@example.com", "user").await;
    let x = x_account(&s, "token").await;
    let draft = || create_post(&s, json!({ "content": "Draft", "targets": [x] }));
    let (owners, users, other_users) = (draft().await, draft().await, draft().await);
    for post in [&users, &other_users] {
        sqlx::query("update smartflow_social.posts set created_by = $2::uuid where id = $1::uuid")
            .bind(post["id"].as_str().unwrap())
            .bind(&user.user_id)
            .execute(&s.app.db)
            .await
            .unwrap();
    }
    let delete = |id: &Value, token: &str| {
        let path = format!("/api/posts/{}", id["id"].as_str().unwrap());
        let token = token.to_string();
        let app = &s.app;
        async move { app.send_as(reqwest::Method::DELETE, &path, &token, None).await }
    };
    assert_problem(delete(&owners, &user.token).await, 403).await;
    assert_eq!(delete(&users, &user.token).await.status(), 204, "a user deletes their own");
    assert_eq!(delete(&other_users, &s.owner.token).await.status(), 204, "an admin any");
    assert_eq!(delete(&owners, &s.owner.token).await.status(), 204);
}

/// Linking an account is a write: viewers cannot start it, and a callback whose starter lost
/// the right to write links nothing.
#[cfg(feature = "social")]
#[tokio::test]
async fn viewers_cannot_link_social_accounts() {
    use crate::social::setup;
    let s = setup().await;
    let viewer = s.app.member(&s.owner, "looker@example.com", "viewer").await;
    let cookie = format!("{}; sf_csrf={CSRF}", session_cookie_in(&s.app, &viewer).await);
    let res = s
        .app
        .client
        .post(s.app.url("/app/social/connect"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={CSRF}&platform=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = header(res.headers(), "location");
    assert!(location.starts_with("/app/social?error="), "back to the page, not to X: {location}");
    let states: i64 = sqlx::query_scalar("select count(*) from smartflow_social.oauth_states")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(states, 0, "no sign-in was started");

    // A user starts linking, is made a viewer, then comes back from X.
    let user = s.app.member(&s.owner, "demoted@example.com", "user").await;
    let res = s.app.post_as("/api/accounts", &user.token, &json!({ "platform": "x" })).await;
    assert_eq!(res.status(), 200);
    let url =
        url::Url::parse(res.json::<Value>().await.unwrap()["authorize_url"].as_str().unwrap())
            .unwrap();
    let state: String = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let res = s
        .app
        .send_as(
            reqwest::Method::PATCH,
            &format!("/api/workspaces/{}/members/{}", s.owner.workspace_id, user.user_id),
            &s.owner.token,
            Some(&json!({ "role": "viewer" })),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = s
        .app
        .get_as(&format!("/api/accounts/oauth/x/callback?code=c&state={state}"), &user.token)
        .await;
    assert_problem(res, 403).await;
    let linked: i64 = sqlx::query_scalar("select count(*) from smartflow_social.accounts")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(linked, 0);
    let received = s.fake.received_requests().await.unwrap_or_default();
    assert!(received.iter().all(|r| r.url.path() != "/2/oauth2/token"), "no code was exchanged");
}

/// The audit log needs `manage_users`: admins only (no module needed, so every build runs it).
#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let app = spawn_app().await;
    let admin = app.signup("admin@example.com").await;
    let user = app.member(&admin, "user@example.com", "user").await;
    let viewer = app.member(&admin, "viewer@example.com", "viewer").await;
    assert_eq!(app.get_as("/api/audit", &admin.token).await.status(), 200);
    for who in [&user, &viewer] {
        assert_problem(app.get_as("/api/audit", &who.token).await, 403).await;
    }
}
