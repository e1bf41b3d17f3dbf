//! OAuth 2.0 pieces shared by X, LinkedIn and Facebook Login: PKCE, `state`, token sets, and a
//! plain authorization-code client (a few form posts; no OAuth crate needed).

use std::fmt;

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::{
    adapter::OAuthProvider,
    error::{ErrorClass, PlatformError},
    http::{Effect, Http, RemoteError, Reply},
    types::Platform,
};
use crate::{config::Secret, platform::crypto};

/// A PKCE pair (RFC 7636, method S256). Keep the verifier server-side (e.g. in the session)
/// between the redirect and the callback; send only the challenge.
#[derive(Clone)]
pub struct Pkce {
    verifier: SecretString,
    challenge: String,
}

impl Pkce {
    pub const METHOD: &'static str = "S256";

    /// A fresh verifier of 43 URL-safe characters (32 random bytes).
    pub fn generate() -> Self {
        Pkce::from_verifier(crypto::random_token(32))
    }

    pub fn from_verifier(verifier: impl Into<String>) -> Self {
        let verifier: String = verifier.into();
        let challenge = s256_challenge(&verifier);
        Pkce { verifier: SecretString::from(verifier), challenge }
    }

    pub fn verifier(&self) -> &str {
        self.verifier.expose_secret()
    }

    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce").field("challenge", &self.challenge).finish_non_exhaustive()
    }
}

/// `BASE64URL(SHA256(verifier))` without padding.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An unguessable `state` value (256 bits) binding the callback to the browser that started it.
pub fn generate_state() -> String {
    crypto::random_token(32)
}

/// Compares the callback's `state` with the stored one without leaking where they differ.
pub fn state_matches(expected: &str, received: &str) -> bool {
    crypto::constant_time_eq(expected.as_bytes(), received.as_bytes())
}

/// What a token response said about the refresh token. A refresh response often omits it
/// (Meta never sends one, LinkedIn and X only sometimes rotate it); `NotIssued` then means
/// "keep the one you have" — never store an empty refresh token over a good one.
#[derive(Clone)]
pub enum RefreshToken {
    Issued(SecretString),
    NotIssued,
}

impl RefreshToken {
    /// The refresh token to store after this response, given the one stored before.
    pub fn merge(self, stored: Option<SecretString>) -> Option<SecretString> {
        match self {
            RefreshToken::Issued(token) => Some(token),
            RefreshToken::NotIssued => stored,
        }
    }

    pub fn is_issued(&self) -> bool {
        matches!(self, RefreshToken::Issued(_))
    }

    pub fn expose(&self) -> Option<&str> {
        match self {
            RefreshToken::Issued(token) => Some(token.expose_secret()),
            RefreshToken::NotIssued => None,
        }
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefreshToken::Issued(_) => "Issued([redacted])",
            RefreshToken::NotIssued => "NotIssued",
        })
    }
}

/// Tokens from an exchange or refresh.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: RefreshToken,
    /// `None` when the platform did not say (Meta Page tokens do not expire).
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Granted scopes; `None` when the response did not list them.
    pub scopes: Option<Vec<String>>,
}

impl TokenSet {
    pub fn access_token(&self) -> &str {
        self.access_token.expose_secret()
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token_expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

impl TokenResponse {
    pub(crate) fn into_token_set(self, now: DateTime<Utc>) -> TokenSet {
        let at =
            |secs: Option<i64>| secs.filter(|s| *s > 0).map(|s| now + ChronoDuration::seconds(s));
        TokenSet {
            access_token: SecretString::from(self.access_token),
            refresh_token: match self.refresh_token {
                Some(t) if !t.trim().is_empty() => RefreshToken::Issued(SecretString::from(t)),
                _ => RefreshToken::NotIssued,
            },
            expires_at: at(self.expires_in),
            refresh_expires_at: at(self.refresh_token_expires_in),
            // X separates scopes with spaces, LinkedIn with commas.
            scopes: self.scope.map(|s| {
                s.split([' ', ',']).filter(|p| !p.is_empty()).map(str::to_string).collect()
            }),
        }
    }
}

/// RFC 6749 §5.2 token endpoint errors (`{"error", "error_description"}`).
pub(crate) fn token_error(reply: &Reply) -> RemoteError {
    #[derive(Deserialize)]
    struct Rfc {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    let Ok(parsed) = serde_json::from_slice::<Rfc>(&reply.body) else {
        return RemoteError::default();
    };
    let code = parsed.error;
    let class = match code.as_str() {
        // The code or refresh token is expired, used or revoked: the person must connect again.
        "invalid_grant" => Some(ErrorClass::Auth { refreshable: false }),
        "invalid_client" | "unauthorized_client" | "unsupported_grant_type" | "invalid_scope" => {
            Some(ErrorClass::Config)
        }
        "invalid_request" => Some(ErrorClass::Validation),
        "temporarily_unavailable" | "server_error" => Some(ErrorClass::Transient),
        _ => None,
    };
    RemoteError {
        message: parsed.error_description.or(parsed.message).unwrap_or_else(|| code.clone()),
        code: Some(code).filter(|c| !c.is_empty()),
        class,
        hint: None,
    }
}

/// How a provider wants the client authenticated at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// HTTP Basic with id and secret (X confidential clients); id in the body when no secret.
    Basic,
    /// `client_id` and `client_secret` form fields (LinkedIn, Facebook).
    Body,
}

#[derive(Debug, Clone)]
pub(crate) struct OAuthConfig {
    pub client_id: String,
    pub client_secret: Secret,
    pub authorize_url: String,
    pub token_url: String,
    pub scopes: Vec<String>,
    pub scope_separator: &'static str,
    pub pkce: bool,
    pub client_auth: ClientAuth,
}

/// The authorization-code flow as X and LinkedIn implement it.
#[derive(Debug, Clone)]
pub(crate) struct OAuthClient {
    pub http: Http,
    pub config: OAuthConfig,
}

impl OAuthClient {
    fn platform(&self) -> Platform {
        self.http.platform
    }

    pub(crate) fn require_client(&self) -> Result<(), PlatformError> {
        if self.config.client_id.trim().is_empty() {
            return Err(PlatformError::config(
                self.platform(),
                format!("no OAuth client id is configured for {}", self.platform().name()),
            ));
        }
        if self.config.client_auth == ClientAuth::Body && !self.config.client_secret.is_set() {
            return Err(PlatformError::config(
                self.platform(),
                format!("no OAuth client secret is configured for {}", self.platform().name()),
            ));
        }
        Ok(())
    }

    async fn token_request(
        &self,
        mut form: Vec<(&str, String)>,
    ) -> Result<TokenSet, PlatformError> {
        self.require_client()?;
        let secret = self.config.client_secret.get();
        let mut request = self.http.client.post(&self.config.token_url);
        form.push(("client_id", self.config.client_id.clone()));
        match (self.config.client_auth, secret) {
            (ClientAuth::Basic, Some(secret)) => {
                request = request.basic_auth(&self.config.client_id, Some(secret));
            }
            (ClientAuth::Body, Some(secret)) => form.push(("client_secret", secret.to_string())),
            _ => {}
        }
        let secrets: Vec<String> = form
            .iter()
            .filter(|(k, _)| {
                matches!(*k, "code" | "code_verifier" | "refresh_token" | "client_secret")
            })
            .map(|(_, v)| v.clone())
            .collect();
        let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let request = request.header("accept", "application/json").form(&form);
        let response: TokenResponse =
            self.http.json(request, Effect::Read, token_error, &secret_refs).await?;
        Ok(response.into_token_set(Utc::now()))
    }
}

#[async_trait]
impl OAuthProvider for OAuthClient {
    fn authorize_url(
        &self,
        state: &str,
        pkce_challenge: &str,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<Url, PlatformError> {
        self.require_client()?;
        let mut url = Url::parse(&self.config.authorize_url).map_err(|e| {
            PlatformError::config(self.platform(), format!("invalid authorize URL ({e})"))
        })?;
        let scopes = if scopes.is_empty() { &self.config.scopes[..] } else { scopes };
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &scopes.join(self.config.scope_separator))
                .append_pair("state", state);
            if self.config.pkce {
                query
                    .append_pair("code_challenge", pkce_challenge)
                    .append_pair("code_challenge_method", Pkce::METHOD);
            }
        }
        Ok(url)
    }

    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, PlatformError> {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", redirect_uri.to_string()),
        ];
        if self.config.pkce {
            form.push(("code_verifier", pkce_verifier.to_string()));
        }
        self.token_request(form).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, PlatformError> {
        self.token_request(vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", refresh_token.to_string()),
        ])
        .await
    }

    fn default_scopes(&self) -> Vec<String> {
        self.config.scopes.clone()
    }

    fn uses_pkce(&self) -> bool {
        self.config.pkce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(pkce.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(!format!("{pkce:?}").contains("dBjftJeZ"));
    }

    #[test]
    fn generated_values_are_long_and_distinct() {
        let a = Pkce::generate();
        assert_eq!(a.verifier().len(), 43);
        assert_ne!(a.verifier(), Pkce::generate().verifier());
        assert_eq!(a.challenge(), s256_challenge(a.verifier()));
        let s = generate_state();
        assert!(s.len() >= 43 && state_matches(&s, &s) && !state_matches(&s, "other"));
    }

    #[test]
    fn refresh_token_merge_keeps_stored_when_not_issued() {
        let stored = Some(SecretString::from("old".to_string()));
        let kept = RefreshToken::NotIssued.merge(stored.clone()).unwrap();
        assert_eq!(kept.expose_secret(), "old");
        let rotated =
            RefreshToken::Issued(SecretString::from("new".to_string())).merge(stored).unwrap();
        assert_eq!(rotated.expose_secret(), "new");
    }

    #[test]
    fn token_response_parsing() {
        let now = Utc::now();
        let r: TokenResponse = serde_json::from_str(
            r#"{"access_token":"a","refresh_token":"","expires_in":60,"scope":"r_a,w_b"}"#,
        )
        .unwrap();
        let set = r.into_token_set(now);
        assert!(!set.refresh_token.is_issued(), "an empty refresh token is no refresh token");
        assert_eq!(set.expires_at, Some(now + ChronoDuration::seconds(60)));
        assert_eq!(set.scopes.unwrap(), ["r_a", "w_b"]);
    }
}
