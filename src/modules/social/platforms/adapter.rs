//! The one interface the publisher, the account-linking routes and analytics use for every
//! platform.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use url::Url;

use super::{
    error::PlatformError,
    oauth::TokenSet,
    rules::RuleViolation,
    types::{
        AccountContext, AccountMetrics, Platform, PostDraft, PostMetrics, PublishRequest,
        Published, RemoteAccount, RemotePost,
    },
};

/// A social platform. Object-safe: the registry hands out `Arc<dyn PlatformAdapter>`.
///
/// Exactly-once publishing with these operations:
/// 1. `validate` when scheduling; `publish` re-checks offline and fails `Validation` before any
///    network call.
/// 2. `publish` once per attempt with the same `idempotency_key` (and `created_at`).
/// 3. On `UnknownOutcome` (or `Duplicate`), do not retry blindly: call `recent_posts(since =
///    attempt start)` and `find_match`; record a match as published, retry only without one.
/// 4. A failed first comment never fails the publish (see `Published::first_comment`); retry
///    it with `comment`.
#[async_trait]
pub trait PlatformAdapter: Send + Sync {
    fn platform(&self) -> Platform;

    /// The platform's rules for this draft; empty when it can be published as is. Offline.
    fn validate(&self, draft: &PostDraft) -> Vec<RuleViolation>;

    /// Uploads the media, creates the post, then posts the first comment if any.
    async fn publish(
        &self,
        ctx: &AccountContext,
        post: &PublishRequest,
    ) -> Result<Published, PlatformError>;

    /// Replies to / comments on one of the account's posts. `idempotency_key` is sent where the
    /// platform supports one.
    async fn comment(
        &self,
        ctx: &AccountContext,
        parent_remote_id: &str,
        text: &str,
        idempotency_key: &str,
    ) -> Result<Published, PlatformError>;

    /// The account's posts created at or after `since` (newest first where the platform sorts),
    /// for reconciliation with [`find_match`](super::reconcile::find_match).
    async fn recent_posts(
        &self,
        ctx: &AccountContext,
        since: DateTime<Utc>,
    ) -> Result<Vec<RemotePost>, PlatformError>;

    /// Counters for the given posts. Posts the platform no longer knows are left out.
    async fn post_metrics(
        &self,
        ctx: &AccountContext,
        remote_ids: &[String],
    ) -> Result<Vec<PostMetrics>, PlatformError>;

    async fn account_metrics(&self, ctx: &AccountContext) -> Result<AccountMetrics, PlatformError>;

    /// The public link of one of the account's posts known only by id (e.g. the existing post
    /// a duplicate error names), where the platform's links are built from the id.
    fn remote_url(&self, _ctx: &AccountContext, _remote_id: &str) -> Option<String> {
        None
    }

    /// Who the token acts as; used when linking an account and to check a token still works.
    async fn verify_account(&self, ctx: &AccountContext) -> Result<RemoteAccount, PlatformError>;

    /// The OAuth 2.0 flow used to link an account, for platforms that have one.
    fn oauth(&self) -> Option<&dyn OAuthProvider> {
        None
    }

    /// New tokens from a stored refresh token (Bluesky: the session's refresh JWT). When the
    /// answer carries no new refresh token, keep the stored one (see `RefreshToken`).
    async fn refresh(
        &self,
        _ctx: &AccountContext,
        refresh_token: &str,
    ) -> Result<TokenSet, PlatformError> {
        match self.oauth() {
            Some(oauth) => oauth.refresh(refresh_token).await,
            None => Err(PlatformError::new(
                self.platform(),
                super::error::ErrorClass::Auth { refreshable: false },
                "this platform's tokens cannot be refreshed; reconnect the account",
            )),
        }
    }
}

/// OAuth 2.0 authorization-code flow (with PKCE where the platform supports it).
#[async_trait]
pub trait OAuthProvider: Send + Sync {
    /// Where to send the browser. `scopes` empty means the configured defaults.
    /// `pkce_challenge` is ignored by providers configured without PKCE.
    fn authorize_url(
        &self,
        state: &str,
        pkce_challenge: &str,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<Url, PlatformError>;

    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, PlatformError>;

    async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, PlatformError>;

    fn default_scopes(&self) -> Vec<String>;

    /// Whether `authorize_url` sends a PKCE challenge (and `exchange_code` the verifier).
    fn uses_pkce(&self) -> bool;
}
