//! After a token exchange: which accounts the person may link with these tokens (the member
//! and the organizations they administer on LinkedIn, the Pages or the Instagram business
//! accounts behind them on Meta).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::modules::social::platforms::{
    AccountContext, Platform, PlatformError, PlatformRegistry, RefreshToken, RemoteAccount,
    TokenSet,
};

/// One account the tokens can act as.
#[derive(Clone)]
pub struct Candidate {
    pub kind: &'static str,
    pub remote: RemoteAccount,
    pub tokens: TokenSet,
}

/// A candidate as shown to the person choosing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CandidateView {
    pub remote_id: String,
    /// `member`, `organization`, `page` or `instagram`.
    pub kind: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub url: Option<String>,
}

impl Candidate {
    pub fn view(&self) -> CandidateView {
        CandidateView {
            remote_id: self.remote.id.clone(),
            kind: self.kind.to_string(),
            username: self.remote.username.clone(),
            display_name: self.remote.display_name.clone(),
            url: self.remote.url.clone(),
        }
    }
}

/// Tokens in a form that can be encrypted while the person chooses.
#[derive(Serialize, Deserialize)]
pub struct SealableTokens {
    access: String,
    refresh: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    refresh_expires_at: Option<DateTime<Utc>>,
    scopes: Option<Vec<String>>,
}

impl From<&TokenSet> for SealableTokens {
    fn from(t: &TokenSet) -> Self {
        SealableTokens {
            access: t.access_token().to_string(),
            refresh: t.refresh_token.expose().map(str::to_string),
            expires_at: t.expires_at,
            refresh_expires_at: t.refresh_expires_at,
            scopes: t.scopes.clone(),
        }
    }
}

impl From<SealableTokens> for TokenSet {
    fn from(t: SealableTokens) -> Self {
        TokenSet {
            access_token: SecretString::from(t.access),
            refresh_token: match t.refresh {
                Some(r) => RefreshToken::Issued(SecretString::from(r)),
                None => RefreshToken::NotIssued,
            },
            expires_at: t.expires_at,
            refresh_expires_at: t.refresh_expires_at,
            scopes: t.scopes,
        }
    }
}

fn page_tokens(token: &SecretString, scopes: &Option<Vec<String>>) -> TokenSet {
    // Page tokens obtained with a long-lived user token do not expire.
    TokenSet {
        access_token: token.clone(),
        refresh_token: RefreshToken::NotIssued,
        expires_at: None,
        refresh_expires_at: None,
        scopes: scopes.clone(),
    }
}

/// Every account these freshly exchanged tokens can link.
pub async fn gather(
    registry: &PlatformRegistry,
    platform: Platform,
    tokens: &TokenSet,
    facebook_web: &str,
) -> Result<Vec<Candidate>, PlatformError> {
    let me = AccountContext::new(tokens.access_token(), "");
    let one = |kind, remote| Candidate { kind, remote, tokens: tokens.clone() };
    match platform {
        Platform::X => Ok(vec![one("member", registry.get(platform).verify_account(&me).await?)]),
        Platform::LinkedIn => {
            let adapter = registry.linkedin();
            let member = registry.get(platform).verify_account(&me).await?;
            let mut out = vec![one("member", member)];
            // Without the organization scopes LinkedIn refuses the listing: members only.
            let orgs = match adapter.list_organizations(&me).await {
                Ok(orgs) => orgs,
                Err(
                    PlatformError::Auth { .. }
                    | PlatformError::Permission { .. }
                    | PlatformError::Validation { .. },
                ) => Vec::new(),
                Err(e) => return Err(e),
            };
            for urn in orgs {
                let ctx = AccountContext::new(tokens.access_token(), urn.clone());
                let remote = match registry.get(platform).verify_account(&ctx).await {
                    Ok(r) => r,
                    Err(_) => {
                        RemoteAccount { id: urn, username: None, display_name: None, url: None }
                    }
                };
                out.push(one("organization", remote));
            }
            Ok(out)
        }
        Platform::Facebook | Platform::Instagram => {
            let pages = registry.facebook().meta_oauth().list_pages(tokens.access_token()).await?;
            let web = facebook_web.trim_end_matches('/');
            Ok(pages
                .into_iter()
                .filter_map(|page| {
                    let tokens = page_tokens(&page.access_token, &tokens.scopes);
                    if platform == Platform::Facebook {
                        return Some(Candidate {
                            kind: "page",
                            remote: RemoteAccount {
                                url: Some(format!("{web}/{}", page.id)),
                                id: page.id,
                                username: None,
                                display_name: Some(page.name),
                            },
                            tokens,
                        });
                    }
                    let ig = page.instagram?;
                    Some(Candidate {
                        kind: "instagram",
                        remote: RemoteAccount {
                            url: ig
                                .username
                                .as_ref()
                                .map(|u| format!("https://www.instagram.com/{u}")),
                            id: ig.id,
                            username: ig.username,
                            display_name: Some(page.name),
                        },
                        tokens,
                    })
                })
                .collect())
        }
        // Bluesky and Mastodon link with tokens, not this flow.
        Platform::Bluesky | Platform::Mastodon => Ok(Vec::new()),
    }
}

/// The candidates' tokens as one JSON document, for encryption.
pub fn seal_all(candidates: &[Candidate]) -> serde_json::Result<String> {
    let all: Vec<(String, SealableTokens)> =
        candidates.iter().map(|c| (c.remote.id.clone(), SealableTokens::from(&c.tokens))).collect();
    serde_json::to_string(&all)
}

pub fn unseal_all(json: &str) -> serde_json::Result<Vec<(String, TokenSet)>> {
    let all: Vec<(String, SealableTokens)> = serde_json::from_str(json)?;
    Ok(all.into_iter().map(|(id, t)| (id, t.into())).collect())
}
