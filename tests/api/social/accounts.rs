//! Linking accounts end to end through the routes: the OAuth 2.0 flow with PKCE and `state`
//! (authorize redirect → callback → tokens stored encrypted → refresh), token linking for
//! Bluesky and Mastodon, status, disconnect and tenancy.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use smartflow::{
    modules::social::{accounts::refresh::RefreshTokens, platforms::s256_challenge},
    platform::crypto::sha256_hex,
};
use wiremock::{
    Match, Mock, Request, ResponseTemplate,
    matchers::{body_string_contains, method, path},
};

use super::{Social, enqueue, events, form, received, setup, setup_with, upgrade};
use crate::helpers::{assert_problem, spawn_app_without_workers};

/// Matches a token request whose `code_verifier` hashes to `challenge` (RFC 7636 S256).
struct PkceVerifier(String);

impl Match for PkceVerifier {
    fn matches(&self, request: &Request) -> bool {
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(&request.body).into_owned().collect();
        form.get("code_verifier").is_some_and(|v| s256_challenge(v) == self.0)
    }
}

async fn start(s: &Social, platform: &str) -> HashMap<String, String> {
    let res =
        s.app.post_as("/api/accounts", &s.owner.token, &json!({ "platform": platform })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "redirect");
    let url = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    url.query_pairs().into_owned().collect()
}

async fn callback(
    s: &Social,
    platform: &str,
    token: &str,
    code: &str,
    state: &str,
) -> reqwest::Response {
    let path = format!("/api/accounts/oauth/{platform}/callback?code={code}&state={state}");
    s.app.get_as(&path, token).await
}

async fn stored_tokens(s: &Social, id: &str) -> (String, Option<String>, i32) {
    sqlx::query_as(
        "select access_token_enc, refresh_token_enc, token_version from smartflow_social.accounts where id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&s.app.db)
    .await
    .unwrap()
}

fn open(s: &Social, id: &str, kind: &str, sealed: &str) -> String {
    s.app.state.cipher.decrypt(sealed, &format!("social_account:{id}:{kind}")).unwrap()
}

fn token_reply(access: &str, refresh: Option<&str>) -> ResponseTemplate {
    let mut body = json!({ "token_type": "bearer", "expires_in": 7200, "access_token": access,
                           "scope": "tweet.read tweet.write users.read offline.access" });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn x_oauth_flow_stores_encrypted_tokens_and_refreshes_ahead_of_expiry() {
    let s = setup().await;
    let q = start(&s, "x").await;
    // The login URL carries the S256 challenge and an unguessable state.
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "client-x");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], "http://localhost:3000/api/accounts/oauth/x/callback");
    assert_eq!(URL_SAFE_NO_PAD.decode(&q["code_challenge"]).unwrap().len(), 32);
    let state = q["state"].clone();
    assert!(state.len() >= 43);
    // Server-side: only a hash of the state and the encrypted verifier.
    let (hash, verifier): (String, String) =
        sqlx::query_as("select state_hash, verifier_enc from smartflow_social.oauth_states")
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert_eq!(hash, sha256_hex(&state));
    let plain = s.app.state.cipher.decrypt(&verifier, &format!("social_oauth:{hash}")).unwrap();
    assert_eq!(s256_challenge(&plain), q["code_challenge"]);

    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .and(PkceVerifier(q["code_challenge"].clone()))
        .respond_with(token_reply("x-access-1", Some("x-refresh-1")))
        .expect(1)
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "data": { "id": "2244994945", "username": "smartflow", "name": "SmartFlow" } }),
        ))
        .mount(&s.fake)
        .await;

    // Someone else's session cannot finish this sign-in.
    let other = s.app.signup("intruder@example.com").await;
    let res = callback(&s, "x", &other.token, "the-code", &state).await;
    assert_problem(res, 403).await;

    let res = callback(&s, "x", &s.owner.token, "the-code", &state).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "linked");
    let account = &body["accounts"][0];
    assert_eq!(account["platform"], "x");
    assert_eq!(account["username"], "smartflow");
    assert_eq!(account["can_refresh"], true);
    assert!(!body.to_string().contains("x-access-1"), "tokens are never returned");
    let id = account["id"].as_str().unwrap().to_string();
    let (access, refresh, version) = stored_tokens(&s, &id).await;
    assert!(!access.contains("x-access-1") && access.starts_with("v1:"));
    assert_eq!(open(&s, &id, "access", &access), "x-access-1");
    assert_eq!(open(&s, &id, "refresh", refresh.as_deref().unwrap()), "x-refresh-1");
    // Bound to its row: the same ciphertext does not open as another account's.
    let other_id = uuid::Uuid::new_v4();
    assert!(
        s.app.state.cipher.decrypt(&access, &format!("social_account:{other_id}:access")).is_err()
    );

    // The state is single use.
    assert_problem(callback(&s, "x", &s.owner.token, "the-code", &state).await, 400).await;
    assert_eq!(events(&s.app, "account.linked").await.len(), 1);

    // Refresh ahead of expiry: 20 minutes left of a 2-hour token.
    sqlx::query(
        "update smartflow_social.accounts set token_expires_at = now() + interval '20 minutes', \
                 token_issued_at = now() - interval '100 minutes' where id = $1::uuid",
    )
    .bind(&id)
    .execute(&s.app.db)
    .await
    .unwrap();
    s.fake.reset().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(token_reply("x-access-2", None))
        .expect(1)
        .mount(&s.fake)
        .await;
    enqueue(&s.app, &RefreshTokens {}).await;
    s.app.run_jobs().await;
    let sent = form(&received(&s.fake, "POST", "/2/oauth2/token").await[0]);
    assert_eq!(sent["refresh_token"], "x-refresh-1");
    let (access, refresh, new_version) = stored_tokens(&s, &id).await;
    assert_eq!(open(&s, &id, "access", &access), "x-access-2");
    assert_eq!(
        open(&s, &id, "refresh", refresh.as_deref().unwrap()),
        "x-refresh-1",
        "a refresh answer without a refresh token keeps the stored one"
    );
    assert_eq!(new_version, version + 1);
    let status: Value = s
        .app
        .get_as(&format!("/api/accounts/{id}/status"), &s.owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["can_publish"], true);
    assert!(status["token_expires_in_secs"].as_i64().unwrap() > 7000);
}

#[tokio::test]
async fn expired_or_unknown_states_are_refused() {
    let s = setup().await;
    let q = start(&s, "x").await;
    sqlx::query(
        "update smartflow_social.oauth_states set expires_at = now() - interval '1 second'",
    )
    .execute(&s.app.db)
    .await
    .unwrap();
    assert_problem(callback(&s, "x", &s.owner.token, "c", &q["state"]).await, 400).await;
    assert_problem(callback(&s, "x", &s.owner.token, "c", "forged-state").await, 400).await;
    // A declined login says so.
    let q = start(&s, "x").await;
    let path = format!("/api/accounts/oauth/x/callback?error=access_denied&state={}", q["state"]);
    let problem = assert_problem(s.app.get_as(&path, &s.owner.token).await, 422).await;
    assert_eq!(problem["errors"][0]["code"], "declined");
    // Unknown platforms and platforms that do not use OAuth.
    let res =
        s.app.post_as("/api/accounts", &s.owner.token, &json!({ "platform": "myspace" })).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "platform");
}

#[tokio::test]
async fn a_page_started_link_returns_to_the_page() {
    let s = setup().await;
    let res = s
        .app
        .post_as(
            "/api/accounts",
            &s.owner.token,
            &json!({ "platform": "x", "return_to": "/app/social" }),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let url = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    let state: String = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({ "error": "invalid_client" })),
        )
        .mount(&s.fake)
        .await;
    let res = callback(&s, "x", &s.owner.token, "c", &state).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/app/social?error="), "{location}");
    let res = s
        .app
        .post_as(
            "/api/accounts",
            &s.owner.token,
            &json!({ "platform": "x", "return_to": "https://evil.example" }),
        )
        .await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "return_to");
}

#[tokio::test]
async fn bluesky_and_mastodon_link_with_tokens() {
    let s = setup().await;
    let jwt = |exp: i64| {
        let payload =
            URL_SAFE_NO_PAD.encode(json!({ "sub": "did:plc:abc", "exp": exp }).to_string());
        format!("eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln")
    };
    let access = jwt(Utc::now().timestamp() + 7200);
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .and(body_string_contains("abcd-efgh-ijkl-mnop"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "did": "did:plc:abc", "handle": "alice.example.com",
            "accessJwt": access, "refreshJwt": jwt(Utc::now().timestamp() + 86400 * 60)
        })))
        .mount(&s.fake)
        .await;
    let res = s
        .app
        .post_as(
            "/api/accounts",
            &s.owner.token,
            &json!({ "platform": "bluesky", "handle": "alice.example.com", "app_password": "abcd-efgh-ijkl-mnop" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["account"]["remote_id"], "did:plc:abc");
    assert_eq!(body["account"]["can_refresh"], true);
    assert!(!body.to_string().contains("abcd-efgh"));

    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "109302", "username": "smartflow", "acct": "smartflow", "display_name": "SmartFlow",
            "url": "https://social.example/@smartflow"
        })))
        .mount(&s.fake)
        .await;
    let res = s
        .app
        .post_as(
            "/api/accounts",
            &s.owner.token,
            &json!({ "platform": "mastodon", "instance_url": s.fake.uri(), "access_token": "masto-token" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["account"]["username"], "smartflow");
    assert_eq!(body["account"]["token_expires_at"], Value::Null);
    let list: Value = s.app.get_as("/api/accounts", &s.owner.token).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);

    // A wrong app password names the field.
    let res = s
        .app
        .post_as(
            "/api/accounts",
            &s.owner.token,
            &json!({ "platform": "bluesky", "handle": "alice.example.com" }),
        )
        .await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "app_password");
}

#[tokio::test]
async fn private_instances_are_refused_and_plans_limit_accounts() {
    let app = spawn_app_without_workers().await;
    let user = app.signup("solo@example.com").await;
    let res = app
        .post_as(
            "/api/accounts",
            &user.token,
            &json!({ "platform": "mastodon", "instance_url": "http://127.0.0.1:9/", "access_token": "t" }),
        )
        .await;
    let problem = assert_problem(res, 422).await;
    assert_eq!(problem["errors"][0]["field"], "instance_url");

    // The free plan allows one social account.
    let s = setup_with(|_| {}).await;
    upgrade(&s.app, &s.owner, "free").await;
    super::x_account(&s, "t").await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "7", "acct": "me" })))
        .mount(&s.fake)
        .await;
    let res = s
        .app
        .post_as(
            "/api/accounts",
            &s.owner.token,
            &json!({ "platform": "mastodon", "instance_url": s.fake.uri(), "access_token": "t" }),
        )
        .await;
    assert_problem(res, 402).await;
}

#[tokio::test]
async fn accounts_stay_in_their_workspace_and_disconnecting_cancels_what_waits() {
    let s = setup().await;
    let id = super::x_account(&s, "token").await;
    let post = super::create_post(
        &s,
        json!({ "content": "Later", "targets": [id], "scheduled_at": (Utc::now() + Duration::days(1)).to_rfc3339() }),
    )
    .await;
    let stranger = s.app.signup("stranger@example.com").await;
    assert_problem(s.app.get_as(&format!("/api/accounts/{id}"), &stranger.token).await, 404).await;
    let list: Value = s.app.get_as("/api/accounts", &stranger.token).await.json().await.unwrap();
    assert!(list.as_array().unwrap().is_empty());
    let res =
        s.app.send_as(Method::DELETE, &format!("/api/accounts/{id}"), &stranger.token, None).await;
    assert_problem(res, 404).await;
    // A viewer cannot disconnect it.
    let viewer = s.app.member(&s.owner, "viewer@example.com", "viewer").await;
    let res =
        s.app.send_as(Method::DELETE, &format!("/api/accounts/{id}"), &viewer.token, None).await;
    assert_problem(res, 403).await;

    let res =
        s.app.send_as(Method::DELETE, &format!("/api/accounts/{id}"), &s.owner.token, None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["cancelled_targets"], 1);
    assert_eq!(body["account"]["status"], "disconnected");
    let tokens: Option<String> =
        sqlx::query_scalar("select access_token_enc from smartflow_social.accounts where id = $1")
            .bind(id)
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert!(tokens.is_none(), "a disconnected account keeps no token");
    let post: Value = s
        .app
        .get_as(&format!("/api/posts/{}", post["id"].as_str().unwrap()), &s.owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(post["status"], "cancelled");
    let state: String =
        sqlx::query_scalar("select state from smartflow_shared.jobs where kind = 'social.publish'")
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert_eq!(state, "cancelled");
}
