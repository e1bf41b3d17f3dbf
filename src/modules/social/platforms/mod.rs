//! Social platform adapters: one [`PlatformAdapter`] per network (X, Facebook Pages, Instagram
//! business, LinkedIn, Bluesky, Mastodon), with the platform's rules, media upload, publishing,
//! reconciliation reads, metrics and account linking (OAuth 2.0, app passwords, tokens).
//!
//! Pure client code: no routes, database or jobs. The publisher calls [`PlatformAdapter::publish`]
//! from a job and decides what to do from the [`PlatformError`] class; after an
//! `UnknownOutcome` it reconciles with [`PlatformAdapter::recent_posts`] and [`find_match`]
//! before any retry (the matching rule is documented in [`reconcile`]).

pub mod adapter;
pub mod bluesky;
pub mod error;
pub mod limits;
pub mod linkedin;
pub mod mastodon;
pub mod meta;
pub mod oauth;
pub mod reconcile;
pub mod registry;
pub mod rules;
pub mod settings;
pub mod text;
pub mod types;
pub mod x;

mod common;
mod http;
mod multipart;
mod ratelimit;
mod redact;

pub use adapter::{OAuthProvider, PlatformAdapter};
pub use error::{ErrorInfo, PlatformError};
pub use http::with_request_id;
pub use oauth::{Pkce, RefreshToken, TokenSet, generate_state, s256_challenge, state_matches};
pub use reconcile::{find_match, find_match_excluding};
pub use registry::{PlatformRegistry, PlatformStatus};
pub use rules::{RuleCode, RuleViolation, Severity};
pub use settings::SocialPlatformSettings;
pub use types::{
    AccountContext, AccountMetrics, CommentOutcome, MediaInfo, MediaItem, MediaKind, Platform,
    PostDraft, PostMetrics, PublishRequest, Published, RemoteAccount, RemotePost,
};

#[cfg(test)]
mod tests;
