//! Logins that can act as several accounts: Facebook Pages (choose which to link), Instagram
//! business accounts behind Pages, LinkedIn members (organizations need extra scopes).

use std::collections::HashMap;

use serde_json::{Value, json};
use smartflow::modules::social::platforms::s256_challenge;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{body_string_contains, method, path},
};

use super::{Social, form, received, setup};
use crate::helpers::assert_problem;

/// Starts a login; the authorize URL's query.
async fn authorize(s: &Social, platform: &str) -> HashMap<String, String> {
    let res =
        s.app.post_as("/api/accounts", &s.owner.token, &json!({ "platform": platform })).await;
    let body: Value = res.json().await.unwrap();
    let url = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    url.query_pairs().into_owned().collect()
}

async fn login(s: &Social, platform: &str) -> String {
    authorize(s, platform).await["state"].clone()
}

async fn mount_meta(s: &Social) {
    Mock::given(method("POST"))
        .and(path("/v24.0/oauth/access_token"))
        .and(body_string_contains("code=meta-code"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "access_token": "short-user", "token_type": "bearer" })),
        )
        .mount(&s.fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v24.0/oauth/access_token"))
        .and(body_string_contains("grant_type=fb_exchange_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "access_token": "long-user", "token_type": "bearer", "expires_in": 5183944 }),
        ))
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/v24.0/me/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "id": "111", "name": "Cafe", "access_token": "page-token-1",
              "instagram_business_account": { "id": "17841400000000001", "username": "cafe" } },
            { "id": "222", "name": "Bakery", "access_token": "page-token-2" }
        ] })))
        .mount(&s.fake)
        .await;
}

#[tokio::test]
async fn facebook_login_lets_people_choose_their_pages() {
    let s = setup().await;
    mount_meta(&s).await;
    let query = authorize(&s, "facebook").await;
    let state = &query["state"];
    assert!(state.len() >= 43, "an unguessable state: {query:?}");
    // PKCE (S256): a stolen code is useless without the verifier SmartFlow kept.
    assert_eq!(query["code_challenge_method"], "S256");
    let challenge = &query["code_challenge"];
    assert_eq!(challenge.len(), 43, "{query:?}");
    let res = s
        .app
        .get_as(
            &format!("/api/accounts/oauth/facebook/callback?code=meta-code&state={state}"),
            &s.owner.token,
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "choose");
    let exchange = received(&s.fake, "POST", "/v24.0/oauth/access_token").await;
    let code = exchange.iter().map(form).find(|f| f.get("code").is_some_and(|c| c == "meta-code"));
    let verifier = code.unwrap()["code_verifier"].clone();
    assert_eq!(&s256_challenge(&verifier), challenge, "the verifier matches the challenge");
    let pending = body["pending"]["id"].as_str().unwrap().to_string();
    let names: Vec<&str> = body["pending"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Cafe", "Bakery"]);
    assert!(!body.to_string().contains("page-token"), "tokens wait encrypted, never shown");

    let shown: Value = s
        .app
        .get_as(&format!("/api/accounts/pending/{pending}"), &s.owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["candidates"].as_array().unwrap().len(), 2);
    let res = s
        .app
        .post_as(
            &format!("/api/accounts/pending/{pending}"),
            &s.owner.token,
            &json!({ "remote_ids": ["nope"] }),
        )
        .await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "remote_ids.0");
    let res = s
        .app
        .post_as(
            &format!("/api/accounts/pending/{pending}"),
            &s.owner.token,
            &json!({ "remote_ids": ["222"] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let linked: Value = res.json().await.unwrap();
    let id = linked[0]["id"].as_str().unwrap();
    assert_eq!(linked[0]["remote_id"], "222");
    assert_eq!(linked[0]["token_expires_at"], Value::Null, "Page tokens do not expire");
    let sealed: String = sqlx::query_scalar(
        "select access_token_enc from smartflow_social.accounts where id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    let token =
        s.app.state.cipher.decrypt(&sealed, &format!("social_account:{id}:access")).unwrap();
    assert_eq!(token, "page-token-2");
    // The choice is used up.
    let res = s
        .app
        .post_as(
            &format!("/api/accounts/pending/{pending}"),
            &s.owner.token,
            &json!({ "remote_ids": ["111"] }),
        )
        .await;
    assert_problem(res, 404).await;
}

#[tokio::test]
async fn instagram_links_the_business_account_behind_the_page() {
    let s = setup().await;
    mount_meta(&s).await;
    let state = login(&s, "instagram").await;
    let res = s
        .app
        .get_as(
            &format!("/api/accounts/oauth/instagram/callback?code=meta-code&state={state}"),
            &s.owner.token,
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "linked", "{body}");
    assert_eq!(body["accounts"][0]["remote_id"], "17841400000000001");
    assert_eq!(body["accounts"][0]["username"], "cafe");
}

#[tokio::test]
async fn linkedin_members_link_without_organization_scopes() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .and(body_string_contains("client_secret=secret-li"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "access_token": "li-token", "expires_in": 5184000, "scope": "openid,profile,w_member_social" }),
        ))
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
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({ "status": 403, "serviceErrorCode": 100, "message": "Not enough permissions to access: organizationAcls" }),
        ))
        .mount(&s.fake)
        .await;
    let state = login(&s, "linkedin").await;
    let res = s
        .app
        .get_as(
            &format!("/api/accounts/oauth/linkedin/callback?code=li-code&state={state}"),
            &s.owner.token,
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "linked", "{body}");
    assert_eq!(body["accounts"][0]["remote_id"], "urn:li:person:782bbtaQ");
    assert_eq!(body["accounts"][0]["display_name"], "Ada Lovelace");
    assert_eq!(body["accounts"][0]["can_refresh"], false);
}
