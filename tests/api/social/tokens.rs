//! Refreshing tokens: outages at the token endpoint are temporary; a revoked grant flags the
//! account, e-mails its owner and emits `account.needs_reauth`.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use smartflow::modules::social::accounts::refresh::RefreshTokens;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use super::{enqueue, events, setup};

#[tokio::test]
async fn token_endpoint_outages_are_temporary_but_a_revoked_grant_needs_reauthorisation() {
    let s = setup().await;
    let soon = Some(Utc::now() + Duration::minutes(10));
    let id = super::account(
        &s.app,
        &s.owner,
        super::NewAccount {
            platform: "x",
            remote_id: "1",
            access: "old",
            refresh: Some("r-1"),
            expires_at: soon,
            instance_url: None,
        },
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .mount(&s.fake)
        .await;
    enqueue(&s.app, &RefreshTokens {}).await;
    s.app.run_jobs().await;
    let (status, error): (String, Option<String>) = sqlx::query_as(
        "select status, last_error_code from smartflow_social.accounts where id = $1",
    )
    .bind(id)
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(status, "active", "a 503 from the token endpoint is temporary");
    assert_eq!(error.as_deref(), Some("transient"));
    let (job_state, wait): (String, f64) = sqlx::query_as(
        "select state, extract(epoch from run_at - now())::float8 from smartflow_shared.jobs \
         where kind = 'social.refresh_account'",
    )
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(job_state, "scheduled", "the refresh is retried later");
    assert!(wait > 0.0);

    s.fake.reset().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({ "error": "invalid_grant", "error_description": "Value passed for the token was invalid." }),
        ))
        .mount(&s.fake)
        .await;
    sqlx::query(
        "update smartflow_shared.jobs set run_at = now() where kind = 'social.refresh_account'",
    )
    .execute(&s.app.db)
    .await
    .unwrap();
    s.app.run_jobs().await;
    let account: Value =
        s.app.get_as(&format!("/api/accounts/{id}"), &s.owner.token).await.json().await.unwrap();
    assert_eq!(account["status"], "needs_reauth");
    assert!(account["last_error"].as_str().unwrap().contains("reconnect"));
    let flagged = events(&s.app, "account.needs_reauth").await;
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["platform"], "x");
    // The owner was e-mailed (the mail job ran with the log transport).
    let mails: i64 = sqlx::query_scalar("select count(*) from smartflow_shared.jobs where kind = 'mail.send' and state = 'completed'")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(mails, 1);
    let status: Value = s
        .app
        .get_as(&format!("/api/accounts/{id}/status"), &s.owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["can_publish"], false);
    assert!(status["hint"].as_str().unwrap().contains("Reconnect"));
}
