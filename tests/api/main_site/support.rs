//! Helpers for the main site's tests: apps, form tokens, the outbox, staff accounts.

use serde_json::{Value, json};
use smartflow::{modules::main_site::forms::token, platform::mail::OutgoingEmail};

use crate::helpers::{CacheKind, TestApp, TestUser, spawn_app_with};

/// An app whose jobs the test runs itself.
pub async fn app_with(tweak: impl FnOnce(&mut smartflow::Settings)) -> TestApp {
    spawn_app_with(CacheKind::Redis, |s| {
        s.process.workers = false;
        s.process.cron = false;
        tweak(s);
    })
    .await
}

pub async fn app() -> TestApp {
    app_with(|_| {}).await
}

/// A form token issued `age_ms` ago (old enough by default: the minimum fill time is 3 s).
pub fn token_aged(app: &TestApp, age_ms: i64) -> String {
    let key = app.state.cipher.derive_key(token::KEY_LABEL);
    token::issue(&key, chrono::Utc::now().timestamp_millis() - age_ms)
}

pub fn token(app: &TestApp) -> String {
    token_aged(app, 60_000)
}

/// A valid lead submission for `email`.
pub fn lead(app: &TestApp, email: &str) -> Value {
    json!({
        "name": "Ada Lovelace",
        "email": email,
        "company": "Analytical Engines",
        "message": "We want to automate our follow-ups.",
        "source": "homepage",
        "consent": true,
        "utm_source": "newsletter",
        "utm_campaign": "autumn",
        "referrer": "https://news.example/story",
        "landing_page": "/?utm_source=newsletter",
        "form_token": token(app),
    })
}

/// Every e-mail queued so far, decrypted, oldest first.
pub async fn outbox(app: &TestApp) -> Vec<OutgoingEmail> {
    let args: Vec<Value> = sqlx::query_scalar(
        "select args from smartflow_shared.jobs where kind = 'mail.send' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    args.iter()
        .map(|a| {
            let sealed = a["sealed"].as_str().unwrap();
            let json = app.state.cipher.decrypt(sealed, "mail.send").unwrap();
            serde_json::from_str(&json).unwrap()
        })
        .collect()
}

pub async fn staff(app: &TestApp, email: &str) -> TestUser {
    let user = app.signup(email).await;
    app.make_staff(&user).await;
    user
}

pub async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&app.db).await.unwrap()
}

/// Error fields of a problem document.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

pub fn field_code(problem: &Value, field: &str) -> String {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == field)
        .map(|e| e["code"].as_str().unwrap().to_string())
        .unwrap_or_default()
}
