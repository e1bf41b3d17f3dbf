use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use super::{TIMEOUT, client, form, header, query, received};
use crate::{
    config::Secret,
    modules::social::platforms::{
        adapter::PlatformAdapter,
        error::PlatformError,
        linkedin::LinkedInAdapter,
        meta::facebook::FacebookAdapter,
        oauth::Pkce,
        settings::{FacebookSettings, LinkedInSettings, MetaSettings, XSettings},
        x::XAdapter,
    },
};

/// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://app.smartflow.example/social/callback/x";

fn x(server: &MockServer) -> XAdapter {
    let settings = XSettings {
        client_id: "client-123".into(),
        client_secret: Secret::new("secret-456"),
        token_url: format!("{}/2/oauth2/token", server.uri()),
        ..XSettings::default()
    };
    XAdapter::new(client(), &settings, TIMEOUT, TIMEOUT)
}

#[tokio::test]
async fn x_authorize_url_carries_the_s256_challenge() {
    let server = MockServer::start().await;
    let pkce = Pkce::from_verifier(VERIFIER);
    assert_eq!(pkce.challenge(), CHALLENGE);
    let adapter = x(&server);
    let oauth = adapter.oauth().unwrap();
    assert!(oauth.uses_pkce());
    let url = oauth.authorize_url("state-xyz", pkce.challenge(), REDIRECT, &[]).unwrap();
    assert_eq!(url.origin().ascii_serialization(), "https://x.com");
    assert_eq!(url.path(), "/i/oauth2/authorize");
    let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], "client-123");
    assert_eq!(params["redirect_uri"], REDIRECT);
    assert_eq!(params["state"], "state-xyz");
    assert_eq!(params["scope"], "tweet.read tweet.write users.read media.write offline.access");
    assert_eq!(params["code_challenge"], CHALLENGE);
    assert_eq!(params["code_challenge_method"], "S256");
}

#[tokio::test]
async fn x_code_exchange_and_refresh_without_a_new_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "bearer", "expires_in": 7200, "access_token": "access-1",
            "scope": "tweet.read users.read offline.access", "refresh_token": "refresh-1"
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    // The refresh answer leaves the refresh token out.
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "bearer", "expires_in": 7200, "access_token": "access-2",
            "scope": "tweet.read users.read offline.access"
        })))
        .with_priority(2)
        .mount(&server)
        .await;
    let adapter = x(&server);
    let oauth = adapter.oauth().unwrap();

    let before = Utc::now();
    let tokens = oauth.exchange_code("code-abc", VERIFIER, REDIRECT).await.unwrap();
    assert_eq!(tokens.access_token(), "access-1");
    assert_eq!(tokens.refresh_token.expose(), Some("refresh-1"));
    let expires = tokens.expires_at.unwrap();
    assert!(
        expires >= before + Duration::seconds(7200)
            && expires <= Utc::now() + Duration::seconds(7200)
    );
    assert_eq!(tokens.scopes.as_deref().unwrap(), ["tweet.read", "users.read", "offline.access"]);

    let requests = received(&server, "POST", "/2/oauth2/token").await;
    let sent = form(&requests[0]);
    assert_eq!(sent["grant_type"], "authorization_code");
    assert_eq!(sent["code"], "code-abc");
    assert_eq!(sent["redirect_uri"], REDIRECT);
    assert_eq!(sent["code_verifier"], VERIFIER);
    assert_eq!(sent["client_id"], "client-123");
    assert!(!sent.contains_key("client_secret"), "a confidential X client uses Basic auth");
    let basic = format!("Basic {}", STANDARD.encode("client-123:secret-456"));
    assert_eq!(header(&requests[0], "authorization"), Some(basic.as_str()));

    let refreshed = oauth.refresh("refresh-1").await.unwrap();
    assert_eq!(refreshed.access_token(), "access-2");
    assert!(!refreshed.refresh_token.is_issued(), "absence must be explicit, not an empty token");
    let stored = Some(SecretString::from("refresh-1".to_string()));
    let keep = refreshed.refresh_token.clone().merge(stored).unwrap();
    assert_eq!(keep.expose_secret(), "refresh-1");
    let sent = form(&received(&server, "POST", "/2/oauth2/token").await[1]);
    assert_eq!(sent["grant_type"], "refresh_token");
    assert_eq!(sent["refresh_token"], "refresh-1");
}

#[tokio::test]
async fn revoked_refresh_token_needs_reconnection_and_is_not_echoed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Value passed for the token was invalid: refresh-secret-999"
        })))
        .mount(&server)
        .await;
    let adapter = x(&server);
    let err = adapter.oauth().unwrap().refresh("refresh-secret-999").await.unwrap_err();
    assert!(matches!(err, PlatformError::Auth { refreshable: false, .. }), "{err:?}");
    assert!(!err.to_string().contains("refresh-secret-999"));
    assert!(!err.redacted_body().unwrap().contains("refresh-secret-999"));
}

#[tokio::test]
async fn unconfigured_client_is_a_configuration_error() {
    let adapter = XAdapter::new(client(), &XSettings::default(), TIMEOUT, TIMEOUT);
    let err = adapter.oauth().unwrap().authorize_url("s", CHALLENGE, REDIRECT, &[]).unwrap_err();
    assert!(matches!(err, PlatformError::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn linkedin_sends_the_secret_in_the_body_and_reports_refresh_expiry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "li-access", "expires_in": 5_184_000,
            "refresh_token": "li-refresh", "refresh_token_expires_in": 31_536_000,
            "scope": "openid,profile,w_member_social"
        })))
        .mount(&server)
        .await;
    let settings = LinkedInSettings {
        client_id: "li-client".into(),
        client_secret: Secret::new("li-secret"),
        token_url: format!("{}/oauth/v2/accessToken", server.uri()),
        ..LinkedInSettings::default()
    };
    let adapter = LinkedInAdapter::new(client(), &settings, TIMEOUT, TIMEOUT);
    let oauth = adapter.oauth().unwrap();

    let url = oauth.authorize_url("st", CHALLENGE, REDIRECT, &[]).unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some("https://www.linkedin.com/oauth/v2/authorization")
    );
    let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(params["scope"], "openid profile w_member_social");
    assert!(!params.contains_key("code_challenge"), "PKCE is off unless LinkedIn enabled it");

    let tokens = oauth.exchange_code("li-code", VERIFIER, REDIRECT).await.unwrap();
    assert_eq!(tokens.scopes.as_deref().unwrap(), ["openid", "profile", "w_member_social"]);
    assert!(tokens.refresh_expires_at.unwrap() > Utc::now() + Duration::days(364));
    let request = &received(&server, "POST", "/oauth/v2/accessToken").await[0];
    let sent = form(request);
    assert_eq!(sent["client_secret"], "li-secret");
    assert_eq!(sent["client_id"], "li-client");
    assert!(!sent.contains_key("code_verifier"));
    assert_eq!(header(request, "authorization"), None);
}

#[tokio::test]
async fn facebook_login_exchanges_for_a_long_lived_token_and_lists_pages() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v24.0/oauth/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "short-user-token", "token_type": "bearer", "expires_in": 5183
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v24.0/oauth/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "long-user-token", "token_type": "bearer", "expires_in": 5_183_944
        })))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v24.0/me/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                { "id": "111", "name": "Bakery", "access_token": "page-token-111", "category": "Bakery",
                  "instagram_business_account": { "id": "17841400000000001", "username": "bakery" } },
                { "id": "222", "name": "No token page" }
            ],
            "paging": { "cursors": { "before": "a", "after": "b" } }
        })))
        .mount(&server)
        .await;
    let meta = MetaSettings {
        app_id: "app-1".into(),
        app_secret: Secret::new("app-secret"),
        graph_base_url: server.uri(),
        ..MetaSettings::default()
    };
    let adapter =
        FacebookAdapter::new(client(), &meta, &FacebookSettings::default(), TIMEOUT, TIMEOUT);
    let oauth = adapter.meta_oauth();

    let url = crate::modules::social::platforms::OAuthProvider::authorize_url(
        oauth,
        "st",
        CHALLENGE,
        REDIRECT,
        &[],
    )
    .unwrap();
    assert_eq!(url.as_str().split('?').next(), Some("https://www.facebook.com/v24.0/dialog/oauth"));
    let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(
        params["scope"],
        "pages_show_list,pages_read_engagement,pages_manage_posts,read_insights"
    );

    let tokens = crate::modules::social::platforms::OAuthProvider::exchange_code(
        oauth, "fb-code", VERIFIER, REDIRECT,
    )
    .await
    .unwrap();
    assert_eq!(tokens.access_token(), "long-user-token");
    assert!(!tokens.refresh_token.is_issued(), "Meta issues no refresh tokens");
    let calls = received(&server, "POST", "/v24.0/oauth/access_token").await;
    assert_eq!(form(&calls[0])["code"], "fb-code");
    assert_eq!(form(&calls[0])["client_secret"], "app-secret");
    assert!(calls[0].url.query().is_none(), "the app secret stays out of the URL");
    assert_eq!(form(&calls[1])["grant_type"], "fb_exchange_token");
    assert_eq!(form(&calls[1])["fb_exchange_token"], "short-user-token");

    let pages = oauth.list_pages("long-user-token").await.unwrap();
    assert_eq!(pages.len(), 1, "a Page without a token cannot be posted to");
    assert_eq!(pages[0].access_token.expose_secret(), "page-token-111");
    assert_eq!(pages[0].instagram.as_ref().unwrap().id, "17841400000000001");
    assert!(!format!("{pages:?}").contains("page-token-111"));
    let listed = &received(&server, "GET", "/v24.0/me/accounts").await[0];
    assert!(query(listed)["fields"].contains("instagram_business_account"));
}
