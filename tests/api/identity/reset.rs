//! Brute-force limits under concurrency, and password-reset requests: limited, identical for
//! known and unknown addresses, and one used link retires the others.

use serde_json::json;

use super::reset_link_token;
use crate::helpers::{CacheKind, PASSWORD, TestApp, assert_problem, header, spawn_app_with};

async fn app_with(tweak: impl FnOnce(&mut smartflow::Settings)) -> TestApp {
    spawn_app_with(CacheKind::Redis, |s| {
        s.process.workers = false;
        s.process.cron = false;
        tweak(s);
    })
    .await
}

#[tokio::test]
async fn concurrent_guesses_cannot_overrun_the_limit() {
    let app = app_with(|s| s.auth.max_failed_logins_per_account = 3).await;
    app.signup("target@example.com").await;
    let passwords: Vec<String> = (0..12).map(|i| format!("guess number {i}")).collect();
    let guesses = passwords.iter().map(|p| app.login("target@example.com", p));
    let statuses: Vec<u16> =
        futures_util::future::join_all(guesses).await.iter().map(|r| r.status().as_u16()).collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (3, 9), "{statuses:?}");
    assert_problem(app.login("target@example.com", PASSWORD).await, 429).await;
}

#[tokio::test]
async fn reset_requests_are_limited_per_address_known_or_not() {
    let app = app_with(|s| s.auth.max_password_resets_per_account = 2).await;
    app.signup("known@example.com").await;
    for email in ["known@example.com", "unknown@example.com"] {
        for _ in 0..2 {
            let res = app.post_json("/api/auth/password-reset", &json!({ "email": email })).await;
            assert_eq!(res.status(), 202, "{email}");
        }
        let res = app.post_json("/api/auth/password-reset", &json!({ "email": email })).await;
        assert!(header(res.headers(), "retry-after").parse::<u64>().unwrap() > 0);
        assert_problem(res, 429).await;
    }
    // Case and spacing do not make a new address.
    let res =
        app.post_json("/api/auth/password-reset", &json!({ "email": " KNOWN@example.com" })).await;
    assert_problem(res, 429).await;
    // The form says so too.
    let form = app
        .client
        .post(app.url("/forgot-password"))
        .header("cookie", format!("sf_csrf={}", super::CSRF))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={}&email=known%40example.com", super::CSRF))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 429);
    assert!(form.text().await.unwrap().contains("Too many password-reset requests"));
}

#[tokio::test]
async fn reset_requests_are_limited_per_client() {
    let app = app_with(|s| s.auth.max_password_resets_per_ip = 3).await;
    for i in 0..3 {
        let body = json!({ "email": format!("spray{i}@example.com") });
        assert_eq!(app.post_json("/api/auth/password-reset", &body).await.status(), 202);
    }
    let body = json!({ "email": "spray9@example.com" });
    assert_problem(app.post_json("/api/auth/password-reset", &body).await, 429).await;
}

#[tokio::test]
async fn a_used_reset_link_retires_the_others() {
    let app = app_with(|_| {}).await;
    app.signup("twice@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        app.post_json("/api/auth/password-reset", &json!({ "email": "twice@example.com" })).await;
        app.run_jobs().await;
        tokens.push(reset_link_token(&app).await);
    }
    assert_ne!(tokens[0], tokens[1]);
    let res = app
        .post_json(
            "/api/auth/password-reset/confirm",
            &json!({ "token": tokens[1], "password": "the second link's password" }),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post_json(
            "/api/auth/password-reset/confirm",
            &json!({ "token": tokens[0], "password": "the first link's password" }),
        )
        .await;
    let problem = assert_problem(res, 422).await;
    assert_eq!(problem["errors"][0]["field"], "token");
    assert_eq!(app.login("twice@example.com", "the second link's password").await.status(), 200);
    // A made-up token is refused the same way (checked before the password is hashed).
    let res = app
        .post_json(
            "/api/auth/password-reset/confirm",
            &json!({ "token": "made-up", "password": "whatever password here" }),
        )
        .await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "token");
}

#[tokio::test]
async fn successful_sign_ins_do_not_use_up_the_address_limit() {
    let app = app_with(|s| s.auth.max_failed_logins_per_ip = 2).await;
    app.signup("regular@example.com").await;
    for _ in 0..4 {
        assert_eq!(app.login("regular@example.com", PASSWORD).await.status(), 200);
    }
    for i in 0..2 {
        let res = app.login(&format!("typo{i}@example.com"), "wrong password here").await;
        assert_eq!(res.status(), 401);
    }
    assert_problem(app.login("typo9@example.com", "wrong password here").await, 429).await;
}
