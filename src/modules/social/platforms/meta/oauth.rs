//! Facebook Login for Facebook Pages and Instagram business accounts.
//!
//! Meta issues no refresh tokens. The code is exchanged for a short-lived user token, which is
//! exchanged at once for a long-lived one (about 60 days); Page access tokens listed with a
//! long-lived user token do not expire. `refresh` exchanges a still-valid long-lived token for a
//! fresh one; once it has expired the person must log in again.

use std::fmt;

use async_trait::async_trait;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::{Graph, graph_error};
use crate::{
    config::Secret,
    modules::social::platforms::{
        adapter::OAuthProvider,
        error::PlatformError,
        http::{Effect, join},
        oauth::{Pkce, TokenResponse, TokenSet},
        settings::MetaSettings,
        types::Platform,
    },
};

#[derive(Debug, Clone)]
pub struct MetaOAuth {
    graph: Graph,
    app_id: String,
    app_secret: Secret,
    dialog_url: String,
    scopes: Vec<String>,
    pkce: bool,
}

/// A Facebook Page the person manages, with its own token and linked Instagram account.
#[derive(Clone)]
pub struct FacebookPage {
    pub id: String,
    pub name: String,
    pub access_token: SecretString,
    pub instagram: Option<InstagramAccount>,
}

impl fmt::Debug for FacebookPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FacebookPage")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("access_token", &"[redacted]")
            .field("instagram", &self.instagram)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InstagramAccount {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
}

impl MetaOAuth {
    pub(crate) fn new(graph: Graph, settings: &MetaSettings, scopes: Vec<String>) -> Self {
        MetaOAuth {
            dialog_url: join(
                &settings.dialog_base_url,
                &format!("{}/dialog/oauth", settings.graph_version),
            ),
            graph,
            app_id: settings.app_id.clone(),
            app_secret: settings.app_secret.clone(),
            scopes,
            pkce: settings.pkce,
        }
    }

    fn platform(&self) -> Platform {
        self.graph.http.platform
    }

    fn credentials(&self) -> Result<(&str, &str), PlatformError> {
        match (self.app_id.trim(), self.app_secret.get()) {
            (id, Some(secret)) if !id.is_empty() => Ok((id, secret)),
            _ => Err(PlatformError::config(
                self.platform(),
                "the Meta app id and secret (social.platforms.meta) are not configured",
            )),
        }
    }

    async fn token(&self, form: Vec<(&str, String)>) -> Result<TokenSet, PlatformError> {
        let (app_id, app_secret) = self.credentials()?;
        let mut form = form;
        form.push(("client_id", app_id.to_string()));
        form.push(("client_secret", app_secret.to_string()));
        let secrets: Vec<String> = form
            .iter()
            .filter(|(k, _)| {
                matches!(*k, "code" | "code_verifier" | "fb_exchange_token" | "client_secret")
            })
            .map(|(_, v)| v.clone())
            .collect();
        let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        // POST keeps the app secret out of URLs (and so out of proxy logs).
        let request =
            self.graph.http.client.post(join(&self.graph.base, "oauth/access_token")).form(&form);
        let response: TokenResponse =
            self.graph.http.json(request, Effect::Read, graph_error, &secret_refs).await?;
        Ok(response.into_token_set(Utc::now()))
    }

    /// Exchanges a short-lived user token for a long-lived one.
    pub async fn long_lived_token(&self, token: &str) -> Result<TokenSet, PlatformError> {
        self.token(vec![
            ("grant_type", "fb_exchange_token".to_string()),
            ("fb_exchange_token", token.to_string()),
        ])
        .await
    }

    /// The Pages the user manages, each with its Page token and Instagram business account.
    pub async fn list_pages(&self, user_token: &str) -> Result<Vec<FacebookPage>, PlatformError> {
        #[derive(Deserialize)]
        struct Page {
            id: String,
            #[serde(default)]
            name: String,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            instagram_business_account: Option<InstagramAccount>,
        }
        let list: super::GraphList<Page> = self
            .graph
            .get(
                "me/accounts",
                user_token,
                &[
                    (
                        "fields",
                        "id,name,access_token,instagram_business_account{id,username}".into(),
                    ),
                    ("limit", "100".into()),
                ],
            )
            .await?;
        Ok(list
            .data
            .into_iter()
            .filter_map(|p| {
                // Without a Page token SmartFlow cannot post as the Page: leave it out.
                let token = p.access_token?;
                Some(FacebookPage {
                    id: p.id,
                    name: p.name,
                    access_token: SecretString::from(token),
                    instagram: p.instagram_business_account,
                })
            })
            .collect())
    }
}

#[async_trait]
impl OAuthProvider for MetaOAuth {
    fn authorize_url(
        &self,
        state: &str,
        pkce_challenge: &str,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<Url, PlatformError> {
        let (app_id, _) = self.credentials()?;
        let mut url = Url::parse(&self.dialog_url).map_err(|e| {
            PlatformError::config(self.platform(), format!("invalid login dialog URL ({e})"))
        })?;
        let scopes = if scopes.is_empty() { &self.scopes[..] } else { scopes };
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", app_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state)
                .append_pair("response_type", "code")
                .append_pair("scope", &scopes.join(","));
            if self.pkce {
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
        let mut form = vec![("code", code.to_string()), ("redirect_uri", redirect_uri.to_string())];
        if self.pkce {
            form.push(("code_verifier", pkce_verifier.to_string()));
        }
        let short = self.token(form).await?;
        self.long_lived_token(short.access_token.expose_secret()).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, PlatformError> {
        self.long_lived_token(refresh_token).await
    }

    fn default_scopes(&self) -> Vec<String> {
        self.scopes.clone()
    }

    fn uses_pkce(&self) -> bool {
        self.pkce
    }
}
