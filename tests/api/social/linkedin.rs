//! LinkedIn end to end: organization pages linked through the OAuth flow and published to,
//! tokens refreshed with LinkedIn's refresh tokens, and members whose posts LinkedIn does not
//! let SmartFlow read (no `r_member_social`) keep publishing.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use smartflow::modules::social::{
    accounts::refresh::RefreshTokens, analytics::collect::CollectMetrics,
};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{body_string_contains, header, method, path},
};

use super::{
    NewAccount, account, due_post, enqueue, events, form, received,
    reconciliation::{access_denied, linkedin_member},
    setup, target_state,
};

const ORG: &str = "urn:li:organization:2414183";

fn created(urn: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).insert_header("x-restli-id", urn)
}

#[tokio::test]
async fn organization_pages_are_linked_through_the_login_and_published_to() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=li-code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "li-org-token", "expires_in": 5_184_000,
            "refresh_token": "li-refresh", "refresh_token_expires_in": 31_536_000,
            "scope": "openid,profile,w_member_social,r_organization_social,w_organization_social,rw_organization_admin"
        })))
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/userinfo"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "sub": "782bbtaQ", "name": "Ada Lovelace" })),
        )
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/organizationAcls"))
        .and(header("linkedin-version", "202609"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "elements": [
            { "organization": ORG, "role": "ADMINISTRATOR", "state": "APPROVED",
              "roleAssignee": "urn:li:person:782bbtaQ" }
        ] })))
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/organizations/2414183"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "id": 2414183, "localizedName": "SmartFlow Inc", "vanityName": "smartflow" }),
        ))
        .mount(&s.fake)
        .await;
    let res =
        s.app.post_as("/api/accounts", &s.owner.token, &json!({ "platform": "linkedin" })).await;
    let body: Value = res.json().await.unwrap();
    let url = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let res = s
        .app
        .get_as(
            &format!("/api/accounts/oauth/linkedin/callback?code=li-code&state={state}"),
            &s.owner.token,
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "choose", "{body}");
    let pending = body["pending"]["id"].as_str().unwrap().to_string();
    let names: Vec<&str> = body["pending"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada Lovelace", "SmartFlow Inc"]);
    let res = s
        .app
        .post_as(
            &format!("/api/accounts/pending/{pending}"),
            &s.owner.token,
            &json!({ "remote_ids": [ORG] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let linked: Value = res.json().await.unwrap();
    assert_eq!(linked[0]["remote_id"], ORG);
    assert_eq!(linked[0]["profile_url"], "https://www.linkedin.com/company/smartflow/");
    assert_eq!(linked[0]["can_refresh"], true);
    let org: uuid::Uuid = linked[0]["id"].as_str().unwrap().parse().unwrap();

    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .and(header("authorization", "Bearer li-org-token"))
        .and(header("x-restli-protocol-version", "2.0.0"))
        .respond_with(created("urn:li:share:7100000000000000001"))
        .expect(1)
        .mount(&s.fake)
        .await;
    let (_, target) = due_post(&s, org, "News from the company page").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    let sent: Value =
        serde_json::from_slice(&received(&s.fake, "POST", "/rest/posts").await[0].body).unwrap();
    assert_eq!(sent["author"], ORG, "published as the page, not the member");
    assert_eq!(sent["commentary"], "News from the company page");
}

#[tokio::test]
async fn linkedin_tokens_are_refreshed_ahead_of_expiry_and_used() {
    let s = setup().await;
    let li = account(
        &s.app,
        &s.owner,
        NewAccount {
            platform: "linkedin",
            remote_id: ORG,
            access: "li-old",
            refresh: Some("li-r-1"),
            expires_at: Some(Utc::now() + Duration::minutes(10)),
            instance_url: None,
        },
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=li-r-1"))
        .and(body_string_contains("client_secret=secret-li"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "li-new", "expires_in": 5_184_000,
            "refresh_token": "li-r-2", "refresh_token_expires_in": 30_000_000
        })))
        .expect(1)
        .mount(&s.fake)
        .await;
    enqueue(&s.app, &RefreshTokens {}).await;
    s.app.run_jobs().await;
    let request = &received(&s.fake, "POST", "/oauth/v2/accessToken").await[0];
    assert_eq!(form(request)["client_id"], "client-li");
    let (access, refresh, expires, version): (String, String, chrono::DateTime<Utc>, i32) =
        sqlx::query_as(
            "select access_token_enc, refresh_token_enc, token_expires_at, token_version \
             from smartflow_social.accounts where id = $1",
        )
        .bind(li)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    let open = |sealed: &str, kind: &str| {
        s.app.state.cipher.decrypt(sealed, &format!("social_account:{li}:{kind}")).unwrap()
    };
    assert_eq!(
        (open(&access, "access"), open(&refresh, "refresh")),
        ("li-new".into(), "li-r-2".into())
    );
    assert!(expires > Utc::now() + Duration::days(59));
    assert_eq!(version, 2);

    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .and(header("authorization", "Bearer li-new"))
        .respond_with(created("urn:li:share:7100000000000000002"))
        .expect(1)
        .mount(&s.fake)
        .await;
    let (_, target) = due_post(&s, li, "With the renewed token").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
}

#[tokio::test]
async fn member_metrics_linkedin_will_not_share_are_skipped_without_flagging_the_account() {
    let s = setup().await;
    let li = linkedin_member(&s).await;
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(created("urn:li:share:7200000000000000001"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(created("urn:li:share:7200000000000000002"))
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/socialActions/urn%3Ali%3Ashare%3A7200000000000000001"))
        .respond_with(access_denied("socialActions.GET.NO_VERSION"))
        .mount(&s.fake)
        .await;
    let (_, first) = due_post(&s, li, "Before the metrics run").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &first).await, "confirmed");

    enqueue(&s.app, &CollectMetrics {}).await;
    s.app.run_jobs().await;
    assert_eq!(
        received(&s.fake, "GET", "/rest/socialActions/urn%3Ali%3Ashare%3A7200000000000000001")
            .await
            .len(),
        1,
        "asked once; a refused read is not retried"
    );
    let account: Value =
        s.app.get_as(&format!("/api/accounts/{li}"), &s.owner.token).await.json().await.unwrap();
    assert_eq!(account["status"], "active");
    let note = account["metrics_note"].as_str().unwrap();
    assert!(note.contains("LinkedIn does not let SmartFlow read"), "{note}");
    assert!(events(&s.app, "account.needs_reauth").await.is_empty());

    // Publishing goes on as before.
    let (_, second) = due_post(&s, li, "After the metrics run").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &second).await, "confirmed");
}
