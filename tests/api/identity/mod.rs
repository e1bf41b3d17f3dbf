//! Accounts, sessions, roles, API keys, brute force, password reset, CSRF, audit.

mod keys;
mod limits;
mod reset;
mod roles;
mod sessions;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, TestUser, assert_problem, cookie_named, header, spawn_app,
    spawn_app_without_workers,
};

/// Puts `user`'s workspace on `plan` (`free`, `starter`, `pro`, `business`).
pub async fn set_plan(app: &TestApp, user: &TestUser, plan: &str) {
    sqlx::query(
        "insert into smartflow_shared.subscriptions (workspace_id, plan_id, status) values ($1::uuid, $2, 'active') \
         on conflict (workspace_id) do update set plan_id = excluded.plan_id",
    )
    .bind(&user.workspace_id)
    .bind(plan)
    .execute(&app.db)
    .await
    .unwrap();
}

/// Signs `user` in to their current workspace through the form's API and returns the
/// `sf_session` cookie of that sign-in.
pub async fn session_cookie_in(app: &TestApp, user: &TestUser) -> String {
    let res = app
        .post_json(
            "/api/auth/login",
            &json!({ "email": user.email, "password": PASSWORD, "workspace_id": user.workspace_id }),
        )
        .await;
    assert_eq!(res.status(), 200);
    cookie_named(res.headers(), "sf_session").unwrap()
}

/// A CSRF cookie and the matching form field value.
pub const CSRF: &str = "csrf-token-for-tests-0123456789abcdef";

#[tokio::test]
async fn signup_login_me_refresh_logout() {
    let app = spawn_app().await;
    let user = app.signup("Ada@Example.com").await;
    assert_eq!(user.email, "Ada@Example.com");

    let res = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let cookie = cookie_named(res.headers(), "sf_session").unwrap();
    let set = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["email"], "ada@example.com", "e-mail is normalised");
    assert_eq!(body["workspace"]["role"], "admin");
    let token = body["access_token"].as_str().unwrap();

    let me: Value = app.get_as("/api/auth/me", token).await.json().await.unwrap();
    assert_eq!(me["user"]["id"], user.user_id.as_str());
    assert_eq!(me["authenticated_by"], "bearer");
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1);

    // The cookie authenticates too.
    let res =
        app.client.get(app.url("/api/auth/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["authenticated_by"], "cookie");

    let refreshed = app
        .post_json("/api/auth/refresh", &json!({ "refresh_token": body["refresh_token"] }))
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let new_token = refreshed["access_token"].as_str().unwrap();
    assert_ne!(refreshed["refresh_token"], body["refresh_token"], "refresh tokens rotate");
    assert_eq!(app.get_as("/api/auth/me", new_token).await.status(), 200);

    let res = app.send_as(Method::POST, "/api/auth/logout", new_token, None).await;
    assert_eq!(res.status(), 204);
    // Every token of the session stops working at once, and so does the cookie.
    assert_problem(app.get_as("/api/auth/me", new_token).await, 401).await;
    assert_problem(app.get_as("/api/auth/me", token).await, 401).await;
    let res =
        app.client.get(app.url("/api/auth/me")).header("cookie", &cookie).send().await.unwrap();
    assert_problem(res, 401).await;
    // Another session of the same user is untouched.
    assert_eq!(app.get_as("/api/auth/me", &user.token).await.status(), 200);
}

#[tokio::test]
async fn missing_or_bad_credentials_are_401_with_a_challenge() {
    let app = spawn_app().await;
    let res = app.get("/api/auth/me").await;
    assert!(header(res.headers(), "www-authenticate").starts_with("Bearer"));
    assert_problem(res, 401).await;
    assert_problem(app.get_as("/api/auth/me", "not-a-jwt").await, 401).await;
    assert_problem(app.get_as("/api/auth/me", "sf_abcdefghijkl_nope").await, 401).await;
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let user = app.signup("reuse@example.com").await;
    let first: Value = app
        .post_json("/api/auth/refresh", &json!({ "refresh_token": user.refresh_token }))
        .await
        .json()
        .await
        .unwrap();
    let stolen_replay =
        app.post_json("/api/auth/refresh", &json!({ "refresh_token": user.refresh_token })).await;
    let body = assert_problem(stolen_replay, 401).await;
    assert!(body["detail"].as_str().unwrap().contains("already used"));
    // The legitimate holder's newer tokens are dead too: the family is revoked.
    assert_problem(app.get_as("/api/auth/me", first["access_token"].as_str().unwrap()).await, 401)
        .await;
    assert_problem(
        app.post_json("/api/auth/refresh", &json!({ "refresh_token": first["refresh_token"] }))
            .await,
        401,
    )
    .await;
    let audit: i64 = sqlx::query_scalar("select count(*) from smartflow_shared.audit_log where action = 'auth.refresh_token_reused'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn unknown_account_and_wrong_password_look_the_same() {
    let app = spawn_app().await;
    app.signup("known@example.com").await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    let wrong = app.login("known@example.com", "not the password at all").await;
    let unknown = app.login("nobody@example.com", "not the password at all").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(strip(wrong.json().await.unwrap()), strip(unknown.json().await.unwrap()));
}

#[tokio::test]
async fn brute_force_trips_429_per_account() {
    let app = spawn_app().await;
    app.signup("target@example.com").await;
    for _ in 0..app.settings.auth.max_failed_logins_per_account {
        assert_eq!(app.login("target@example.com", "guess guess guess").await.status(), 401);
    }
    let res = app.login("target@example.com", "guess guess guess").await;
    assert!(header(res.headers(), "retry-after").parse::<u64>().unwrap() > 0);
    assert_problem(res, 429).await;
    // Locked even with the right password until the window ends.
    assert_problem(app.login("target@example.com", PASSWORD).await, 429).await;
    // Other accounts are not affected.
    app.signup("other@example.com").await;
    assert_eq!(app.login("other@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn brute_force_trips_429_per_address() {
    let app = crate::helpers::spawn_app_with(crate::helpers::CacheKind::Redis, |s| {
        s.auth.max_failed_logins_per_ip = 3;
    })
    .await;
    for i in 0..3 {
        assert_eq!(
            app.login(&format!("spray{i}@example.com"), "guess guess guess").await.status(),
            401
        );
    }
    assert_problem(app.login("spray9@example.com", "guess guess guess").await, 429).await;
}

#[tokio::test]
async fn signup_validates_every_field_and_refuses_duplicates() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/auth/signup",
            &json!({ "email": "not-an-email", "password": "short", "name": "x".repeat(200) }),
        )
        .await;
    let body = assert_problem(res, 422).await;
    let fields: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "password", "name"]);
    app.signup("dup@example.com").await;
    let res = app
        .post_json("/api/auth/signup", &json!({ "email": "DUP@example.com", "password": PASSWORD }))
        .await;
    assert_problem(res, 409).await;
    // Malformed JSON and missing fields are problems too, never 500.
    assert_problem(app.post_raw("/api/auth/signup", "application/json", "{\"email\":").await, 400)
        .await;
    let body =
        assert_problem(app.post_json("/api/auth/signup", &json!({ "email": "a@b.co" })).await, 422)
            .await;
    assert_eq!(body["errors"][0]["field"], "password");
    assert_problem(app.post_raw("/api/auth/signup", "text/plain", "hello").await, 415).await;
}

#[tokio::test]
async fn role_changes_apply_at_once_and_the_last_admin_stays() {
    let app = spawn_app().await;
    let admin = app.signup("boss@example.com").await;
    let user = app.member(&admin, "worker@example.com", "user").await;
    let ws = &admin.workspace_id;
    assert_eq!(
        app.post_as("/api/api-keys", &user.token, &json!({ "name": "k" })).await.status(),
        403
    );
    let res = app
        .send_as(
            Method::PATCH,
            &format!("/api/workspaces/{ws}/members/{}", user.user_id),
            &admin.token,
            Some(&json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(res.status(), 200);
    // Same token, new role: the session decides, not the token's claim.
    assert_eq!(
        app.post_as("/api/api-keys", &user.token, &json!({ "name": "k" })).await.status(),
        201
    );

    let res = app
        .send_as(
            Method::PATCH,
            &format!("/api/workspaces/{ws}/members/{}", admin.user_id),
            &admin.token,
            Some(&json!({ "role": "viewer" })),
        )
        .await;
    assert_eq!(res.status(), 200, "another admin exists");
    let res = app
        .send_as(
            Method::PATCH,
            &format!("/api/workspaces/{ws}/members/{}", user.user_id),
            &user.token,
            Some(&json!({ "role": "viewer" })),
        )
        .await;
    assert_problem(res, 409).await;

    let res = app
        .send_as(
            Method::DELETE,
            &format!("/api/workspaces/{ws}/members/{}", admin.user_id),
            &user.token,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_problem(app.get_as("/api/auth/me", &admin.token).await, 401).await;
}

#[tokio::test]
async fn workspaces_never_see_each_other() {
    let app = spawn_app().await;
    let a = app.signup("a@example.com").await;
    let b = app.signup("b@example.com").await;
    let key: Value = app
        .post_as("/api/api-keys", &b.token, &json!({ "name": "b-key" }))
        .await
        .json()
        .await
        .unwrap();
    let key_id = key["id"].as_str().unwrap();

    // By id: not found (never forbidden, so ids cannot be probed).
    assert_problem(
        app.get_as(&format!("/api/workspaces/{}/members", b.workspace_id), &a.token).await,
        404,
    )
    .await;
    assert_problem(
        app.send_as(Method::DELETE, &format!("/api/api-keys/{key_id}"), &a.token, None).await,
        404,
    )
    .await;
    let res = app
        .send_as(
            Method::PATCH,
            &format!("/api/workspaces/{}", b.workspace_id),
            &a.token,
            Some(&json!({ "name": "pwned" })),
        )
        .await;
    assert_problem(res, 404).await;
    // In lists: absent.
    let keys: Value = app.get_as("/api/api-keys", &a.token).await.json().await.unwrap();
    assert!(keys.as_array().unwrap().is_empty());
    let audit: Value = app.get_as("/api/audit", &a.token).await.json().await.unwrap();
    assert!(audit["items"].as_array().unwrap().iter().all(|e| e["actor_label"] != "b@example.com"));
    // B's key still works.
    assert_eq!(app.get_as("/api/auth/me", key["secret"].as_str().unwrap()).await.status(), 200);
}

#[tokio::test]
async fn api_keys_work_until_revoked() {
    let app = spawn_app().await;
    let admin = app.signup("keys@example.com").await;
    let res = app
        .post_as(
            "/api/api-keys",
            &admin.token,
            &json!({ "name": "Zapier", "role": "viewer", "expires_in_days": 30 }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let key: Value = res.json().await.unwrap();
    let secret = key["secret"].as_str().unwrap();
    assert!(secret.starts_with("sf_"));
    let stored: String = sqlx::query_scalar("select key_hash from smartflow_shared.api_keys")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(stored, secret, "only a hash is stored");

    let me: Value = app.get_as("/api/auth/me", secret).await.json().await.unwrap();
    assert_eq!(me["authenticated_by"], "api_key");
    assert_eq!(me["workspace"]["role"], "viewer", "the key's role, not its creator's");
    // A viewer key cannot manage.
    assert_eq!(app.post_as("/api/api-keys", secret, &json!({ "name": "x" })).await.status(), 403);
    let listed: Value = app.get_as("/api/api-keys", &admin.token).await.json().await.unwrap();
    assert!(listed[0].get("secret").is_none() && listed[0].get("key_hash").is_none());

    let res = app
        .send_as(
            Method::DELETE,
            &format!("/api/api-keys/{}", key["id"].as_str().unwrap()),
            &admin.token,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_problem(app.get_as("/api/auth/me", secret).await, 401).await;
    // A key cannot be more powerful than its creator.
    let user = app.member(&admin, "plain@example.com", "user").await;
    let _ = user;
    let res = app
        .post_as("/api/api-keys", &admin.token, &json!({ "name": "", "expires_in_days": 0 }))
        .await;
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
}

/// The reset e-mail is the job's encrypted argument; open it as the mail server would.
async fn reset_link_token(app: &TestApp) -> String {
    let sealed: Value = sqlx::query_scalar(
        "select args from smartflow_shared.jobs where kind = 'mail.send' order by id desc limit 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let json = app.state.cipher.decrypt(sealed["sealed"].as_str().unwrap(), "mail.send").unwrap();
    let email: Value = serde_json::from_str(&json).unwrap();
    let text = email["text"].as_str().unwrap().to_string();
    let link = text.lines().find(|l| l.contains("token=")).unwrap();
    link.split("token=").nth(1).unwrap().trim().to_string()
}

#[tokio::test]
async fn password_reset_tokens_work_once_and_end_sessions() {
    let app = spawn_app_without_workers().await;
    let user = app.signup("forgetful@example.com").await;
    let res = app
        .post_json("/api/auth/password-reset", &json!({ "email": "forgetful@example.com" }))
        .await;
    assert_eq!(res.status(), 202);
    let unknown =
        app.post_json("/api/auth/password-reset", &json!({ "email": "ghost@example.com" })).await;
    assert_eq!(unknown.status(), 202, "no enumeration");
    // Both requests did the same work: one job each, whether the account exists or not.
    let asked: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.jobs where kind = 'auth.password_reset'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(asked, 2);
    app.run_jobs().await;
    let mails: i64 =
        sqlx::query_scalar("select count(*) from smartflow_shared.jobs where kind = 'mail.send'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(mails, 1, "only the real account gets mail");

    let token = reset_link_token(&app).await;
    let new_password = "a brand new passphrase";
    let res = app
        .post_json(
            "/api/auth/password-reset/confirm",
            &json!({ "token": token, "password": new_password }),
        )
        .await;
    assert_eq!(res.status(), 204);
    let again = app
        .post_json(
            "/api/auth/password-reset/confirm",
            &json!({ "token": token, "password": "another new passphrase" }),
        )
        .await;
    let body = assert_problem(again, 422).await;
    assert_eq!(body["errors"][0]["field"], "token");
    assert_problem(app.get_as("/api/auth/me", &user.token).await, 401).await;
    assert_eq!(app.login("forgetful@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("forgetful@example.com", new_password).await.status(), 200);
}

#[tokio::test]
async fn invitations_are_single_use_and_grant_their_role() {
    let app = spawn_app_without_workers().await;
    let admin = app.signup("host@example.com").await;
    set_plan(&app, &admin, "starter").await;
    let ws = &admin.workspace_id;
    let res = app
        .post_as(
            &format!("/api/workspaces/{ws}/invitations"),
            &admin.token,
            &json!({ "email": "guest@example.com", "role": "viewer" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let sealed: Value =
        sqlx::query_scalar("select args from smartflow_shared.jobs where kind = 'mail.send'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let mail: Value = serde_json::from_str(
        &app.state.cipher.decrypt(sealed["sealed"].as_str().unwrap(), "mail.send").unwrap(),
    )
    .unwrap();
    assert_eq!(mail["to"], "guest@example.com");
    let link = mail["text"]
        .as_str()
        .unwrap()
        .lines()
        .find(|l| l.contains("/invite/"))
        .unwrap()
        .to_string();
    let token = link.rsplit('/').next().unwrap().trim();

    let res = app
        .post_json(
            "/api/invitations/accept",
            &json!({ "token": token, "password": "guest password 123", "name": "Guest" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["workspace"]["role"], "viewer");
    assert_eq!(body["workspace"]["workspace_id"], ws.as_str());
    let again = app
        .post_json(
            "/api/invitations/accept",
            &json!({ "token": token, "password": "guest password 123" }),
        )
        .await;
    assert_problem(again, 422).await;
    let members: Value = app
        .get_as(&format!("/api/workspaces/{ws}/members"), &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn audit_rows_are_written_for_mutating_actions() {
    let app = spawn_app_without_workers().await;
    let admin = app.signup("auditor@example.com").await;
    set_plan(&app, &admin, "pro").await;
    let user = app.member(&admin, "member@example.com", "user").await;
    let leaver = app.member(&admin, "leaver@example.com", "viewer").await;
    let ws = &admin.workspace_id;
    let ok = |res: reqwest::Response, status: u16, what: &str| {
        assert_eq!(res.status(), status, "{what}");
    };
    let key: Value = app
        .post_as("/api/api-keys", &admin.token, &json!({ "name": "ci" }))
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .send_as(
            Method::DELETE,
            &format!("/api/api-keys/{}", key["id"].as_str().unwrap()),
            &admin.token,
            None,
        )
        .await;
    ok(res, 204, "revoke key");
    let res = app
        .send_as(
            Method::PATCH,
            &format!("/api/workspaces/{ws}/members/{}", user.user_id),
            &admin.token,
            Some(&json!({ "role": "viewer" })),
        )
        .await;
    ok(res, 200, "change role");
    let res = app
        .post_as(
            &format!("/api/workspaces/{ws}/invitations"),
            &admin.token,
            &json!({ "email": "newcomer@example.com", "role": "user" }),
        )
        .await;
    ok(res, 201, "invite");
    let res = app
        .send_as(
            Method::DELETE,
            &format!("/api/workspaces/{ws}/members/{}", leaver.user_id),
            &admin.token,
            None,
        )
        .await;
    ok(res, 204, "remove member");
    let res = app
        .send_as(
            Method::PATCH,
            &format!("/api/workspaces/{ws}"),
            &admin.token,
            Some(&json!({ "name": "Audited Inc." })),
        )
        .await;
    ok(res, 200, "update workspace");
    app.send_as(Method::POST, "/api/auth/logout", &user.token, None).await;

    let audit: Value = app
        .client
        .get(app.url("/api/audit?limit=100"))
        .bearer_auth(&admin.token)
        .header("x-request-id", "audit-test-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in [
        "user.signed_up",
        "workspace.created",
        "auth.signed_in",
        "api_key.created",
        "api_key.revoked",
        "member.role_changed",
        "member.invited",
        "member.removed",
        "workspace.updated",
        "auth.signed_out",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let removed = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.removed")
        .unwrap();
    assert_eq!(removed["target_id"], leaver.user_id.as_str());
    assert_eq!(removed["actor_label"], "auditor@example.com");
    let change = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.role_changed")
        .unwrap();
    assert_eq!(change["actor_label"], "auditor@example.com");
    assert_eq!(change["target_id"], user.user_id.as_str());
    assert_eq!(change["details"]["to"], "viewer");
    assert!(change["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(change["ip"].as_str().is_some());
    let filtered: Value =
        app.get_as("/api/audit?action=auth.", &admin.token).await.json().await.unwrap();
    assert!(
        filtered["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("auth."))
    );

    // A password reset is the account's, not a workspace's: its rows name the user.
    app.post_json("/api/auth/password-reset", &json!({ "email": "member@example.com" })).await;
    app.run_jobs().await;
    let token = reset_link_token(&app).await;
    let res = app
        .post_json(
            "/api/auth/password-reset/confirm",
            &json!({ "token": token, "password": "a new passphrase for audit" }),
        )
        .await;
    assert_eq!(res.status(), 204);
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "select action, request_id from smartflow_shared.audit_log where actor_user_id = $1::uuid \
         and action like 'auth.password_reset%' order by id",
    )
    .bind(&user.user_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["auth.password_reset_requested", "auth.password_reset"]);
    assert!(rows.iter().all(|(_, r)| r.is_some()), "rows carry the request id: {rows:?}");
}

#[tokio::test]
async fn csrf_is_enforced_on_cookie_authenticated_requests() {
    let app = spawn_app().await;
    app.signup("forms@example.com").await;

    // The login page sets the token cookie and embeds the token.
    let page = app.get("/login").await;
    let csrf_cookie = cookie_named(page.headers(), "sf_csrf").expect("csrf cookie");
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(csrf_cookie, format!("sf_csrf={token}"));

    let form = |csrf: &str| {
        format!(
            "email=forms%40example.com&password={}&csrf_token={csrf}",
            PASSWORD.replace(' ', "+")
        )
    };
    let forged = app
        .client
        .post(app.url("/login"))
        .header("cookie", &csrf_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form("forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(cookie_named(forged.headers(), "sf_session").is_none());
    let no_cookie = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 403);
    let ok = app
        .client
        .post(app.url("/login"))
        .header("cookie", &csrf_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(header(ok.headers(), "location"), "/app");
    let session = cookie_named(ok.headers(), "sf_session").unwrap();
    let both = format!("{session}; {csrf_cookie}");

    // The dashboard page works with the cookie.
    let res = app.client.get(app.url("/app")).header("cookie", &both).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // A cookie-authenticated form post with a forged or missing token is refused, and the
    // session it tried to end lives on.
    for body in ["csrf_token=forged", "", "other=1"] {
        let res = app
            .client
            .post(app.url("/logout"))
            .header("cookie", &both)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{body:?}");
        assert!(cookie_named(res.headers(), "sf_session").is_none(), "{body:?}");
    }
    let res = app.client.get(app.url("/app")).header("cookie", &both).send().await.unwrap();
    assert_eq!(res.status(), 200, "still signed in");

    // Cookie-authenticated API calls need the header.
    let res =
        app.client.post(app.url("/api/auth/logout")).header("cookie", &both).send().await.unwrap();
    assert_problem(res, 403).await;
    let res = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("cookie", &both)
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn pages_need_a_session_and_bring_you_back() {
    let app = spawn_app().await;
    let res = app.get("/app").await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(res.headers(), "location"), "/login?next=%2Fapp");
    for page in ["/login", "/signup", "/forgot-password", "/reset-password?token=x"] {
        let res = app.get(page).await;
        assert_eq!(res.status(), 200, "{page}");
        let html = res.text().await.unwrap();
        assert!(html.contains("<label for=\"f-"), "{page} labels its fields");
    }
    let user = app.signup("pages@example.com").await;
    let res = app
        .client
        .get(app.url("/app"))
        .header("cookie", &user.session_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("pages@example.com"));
    assert_eq!(smartflow::platform::auth::pages::safe_next(Some("//evil.example")), "/app");
    assert_eq!(smartflow::platform::auth::pages::safe_next(Some("https://evil.example")), "/app");
    assert_eq!(smartflow::platform::auth::pages::safe_next(Some("/calendar?m=1")), "/calendar?m=1");
    // Browsers drop tabs and newlines and read `\` as `/`: each of these would leave the site.
    for evil in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "\t//evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "/ /evil.example",
        "/\u{0}/evil.example",
        "/\u{7f}/evil.example",
        "/\u{a0}/evil.example",
        "javascript:alert(1)",
        "",
    ] {
        assert_eq!(smartflow::platform::auth::pages::safe_next(Some(evil)), "/app", "{evil:?}");
    }
    assert_eq!(smartflow::platform::auth::pages::safe_next(None), "/app");
    assert_eq!(
        smartflow::platform::auth::pages::safe_next(Some("/app/social?next=https://x.example")),
        "/app/social?next=https://x.example",
        "a URL in the query is still a local path"
    );
    // The login page does not send the browser away either.
    let res = app
        .client
        .get(app.url("/login?next=%2F%09%2Fevil.example"))
        .header("cookie", &user.session_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(header(res.headers(), "location"), "/app");
}

#[tokio::test]
async fn create_admin_makes_staff_who_can_operate_jobs() {
    let app = spawn_app().await;
    let created = smartflow::platform::auth::admin::create_admin(
        &app.db,
        &app.settings,
        "ops@example.com",
        Some("Ops"),
        None,
    )
    .await
    .unwrap();
    let generated = created.generated_password.unwrap();
    let res = app.login("ops@example.com", &generated).await;
    assert_eq!(res.status(), 200);
    let staff: Value = res.json().await.unwrap();
    assert_eq!(staff["user"]["is_staff"], true);
    let token = staff["access_token"].as_str().unwrap();
    assert_eq!(app.get_as("/api/jobs", token).await.status(), 200);

    let customer = app.signup("customer@example.com").await;
    assert_problem(app.get_as("/api/jobs", &customer.token).await, 403).await;
}

#[tokio::test]
async fn auth_routes_are_documented_with_their_security_schemes() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    for path in [
        "/api/auth/signup",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/api-keys",
        "/api/audit",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert!(doc["paths"]["/api/auth/me"]["get"]["security"].is_array());
    // Routes an API key may call say so.
    for (path, method) in [
        ("/api/api-keys", "get"),
        ("/api/api-keys", "post"),
        ("/api/api-keys/{id}", "delete"),
        ("/api/workspaces", "get"),
    ] {
        let schemes: Vec<&str> = doc["paths"][path][method]["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has no security"))
            .iter()
            .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
            .collect();
        assert!(schemes.contains(&"api_key"), "{method} {path}: {schemes:?}");
    }
}

#[tokio::test]
async fn the_session_endpoint_answers_from_the_session() {
    let app = spawn_app().await;
    let user = app.signup("cheap@example.com").await;
    let info: Value = app.get_as("/api/auth/session", &user.token).await.json().await.unwrap();
    assert_eq!(info["user_id"], user.user_id.as_str());
    assert_eq!(info["role"], "admin");
    assert_eq!(info["authenticated_by"], "bearer");
    assert_problem(app.get("/api/auth/session").await, 401).await;
}
