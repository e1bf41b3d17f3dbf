//! Settings for the platform adapters (`[social.platforms]`). Every field has a default, so a
//! deployment sets only credentials; API and authorization hosts are separate settings because
//! they differ (and tests point both at a local fake).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocialPlatformSettings {
    /// Limit for each API call that is not an upload.
    pub request_timeout_ms: u64,
    /// Limit for each media upload request (one chunk, one file).
    pub upload_timeout_ms: u64,
    pub x: XSettings,
    /// The Meta app behind Facebook Login, shared by Facebook and Instagram.
    pub meta: MetaSettings,
    pub facebook: FacebookSettings,
    pub instagram: InstagramSettings,
    pub linkedin: LinkedInSettings,
    pub bluesky: BlueskySettings,
    pub mastodon: MastodonSettings,
}

impl SocialPlatformSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }

    pub fn upload_timeout(&self) -> Duration {
        Duration::from_millis(self.upload_timeout_ms.max(1))
    }
}

impl Default for SocialPlatformSettings {
    fn default() -> Self {
        SocialPlatformSettings {
            request_timeout_ms: 15_000,
            upload_timeout_ms: 120_000,
            x: XSettings::default(),
            meta: MetaSettings::default(),
            facebook: FacebookSettings::default(),
            instagram: InstagramSettings::default(),
            linkedin: LinkedInSettings::default(),
            bluesky: BlueskySettings::default(),
            mastodon: MastodonSettings::default(),
        }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XSettings {
    /// OAuth 2.0 client id of the X app; empty disables linking X accounts.
    pub client_id: String,
    /// Set for a confidential client (sent with HTTP Basic); empty for a public client.
    pub client_secret: Secret,
    pub api_base_url: String,
    pub authorize_url: String,
    pub token_url: String,
    /// `offline.access` is what yields a refresh token; `media.write` allows media upload.
    pub scopes: Vec<String>,
    /// Public site, for permalinks.
    pub web_url: String,
    /// Images up to this size go in one request; larger files and all videos are chunked.
    pub media_chunk_bytes: usize,
    pub media_poll_interval_ms: u64,
    pub media_poll_attempts: u32,
}

impl Default for XSettings {
    fn default() -> Self {
        XSettings {
            client_id: String::new(),
            client_secret: Secret::default(),
            api_base_url: "https://api.x.com".into(),
            authorize_url: "https://x.com/i/oauth2/authorize".into(),
            token_url: "https://api.x.com/2/oauth2/token".into(),
            scopes: strings(&[
                "tweet.read",
                "tweet.write",
                "users.read",
                "media.write",
                "offline.access",
            ]),
            web_url: "https://x.com".into(),
            media_chunk_bytes: 4 * 1024 * 1024,
            media_poll_interval_ms: 2_000,
            media_poll_attempts: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetaSettings {
    /// Facebook app id and secret; both empty disables Facebook and Instagram linking.
    pub app_id: String,
    pub app_secret: Secret,
    pub graph_base_url: String,
    /// Graph API version in every path, e.g. `v24.0`.
    pub graph_version: String,
    /// Host of the login dialog; the path is `/{graph_version}/dialog/oauth`.
    pub dialog_base_url: String,
    /// Send `appsecret_proof` with every call (required when the app enables "Require App
    /// Secret"; harmless otherwise).
    pub appsecret_proof: bool,
    /// Send a PKCE challenge (S256) with the login and its verifier with the code exchange,
    /// which Facebook Login supports for the code flow: a stolen code is then useless.
    pub pkce: bool,
}

impl Default for MetaSettings {
    fn default() -> Self {
        MetaSettings {
            app_id: String::new(),
            app_secret: Secret::default(),
            graph_base_url: "https://graph.facebook.com".into(),
            graph_version: "v24.0".into(),
            dialog_base_url: "https://www.facebook.com".into(),
            appsecret_proof: true,
            pkce: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FacebookSettings {
    pub scopes: Vec<String>,
    pub web_url: String,
}

impl Default for FacebookSettings {
    fn default() -> Self {
        FacebookSettings {
            scopes: strings(&[
                "pages_show_list",
                "pages_read_engagement",
                "pages_manage_posts",
                "read_insights",
            ]),
            web_url: "https://www.facebook.com".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstagramSettings {
    pub scopes: Vec<String>,
    /// Wait between checks of a media container's `status_code`.
    pub container_poll_interval_ms: u64,
    /// Checks before giving up (the attempt then fails `Transient`; nothing was published).
    pub container_poll_attempts: u32,
}

impl Default for InstagramSettings {
    fn default() -> Self {
        InstagramSettings {
            scopes: strings(&[
                "instagram_basic",
                "instagram_content_publish",
                "instagram_manage_comments",
                "instagram_manage_insights",
                "pages_show_list",
                "pages_read_engagement",
            ]),
            container_poll_interval_ms: 3_000,
            container_poll_attempts: 40,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkedInSettings {
    pub client_id: String,
    pub client_secret: Secret,
    pub api_base_url: String,
    /// `LinkedIn-Version` header (YYYYMM). LinkedIn retires a version after about a year and
    /// then answers 426; move it forward with their release notes.
    pub version: String,
    pub authorize_url: String,
    pub token_url: String,
    /// Organization pages also need `w_organization_social`, `r_organization_social` and
    /// `rw_organization_admin` (Community Management API).
    pub scopes: Vec<String>,
    /// PKCE with LinkedIn works only for apps LinkedIn enabled it for (its native-client
    /// flow); for the others the token exchange fails, so it stays off unless LinkedIn
    /// confirmed it for the app. The `state` parameter protects the flow either way.
    pub pkce: bool,
    pub web_url: String,
    pub media_poll_interval_ms: u64,
    pub media_poll_attempts: u32,
}

impl Default for LinkedInSettings {
    fn default() -> Self {
        LinkedInSettings {
            client_id: String::new(),
            client_secret: Secret::default(),
            api_base_url: "https://api.linkedin.com".into(),
            version: "202609".into(),
            authorize_url: "https://www.linkedin.com/oauth/v2/authorization".into(),
            token_url: "https://www.linkedin.com/oauth/v2/accessToken".into(),
            scopes: strings(&["openid", "profile", "w_member_social"]),
            pkce: false,
            web_url: "https://www.linkedin.com".into(),
            media_poll_interval_ms: 2_000,
            media_poll_attempts: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlueskySettings {
    /// Accounts link with a handle and an app password; no server credentials are needed.
    pub enabled: bool,
    /// Where sessions are created when the account's own PDS is not known yet.
    pub default_pds_url: String,
    pub web_url: String,
}

impl Default for BlueskySettings {
    fn default() -> Self {
        BlueskySettings {
            enabled: true,
            default_pds_url: "https://bsky.social".into(),
            web_url: "https://bsky.app".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MastodonSettings {
    /// Accounts link with an instance URL and an access token.
    pub enabled: bool,
    /// The common instance limit; instances may allow more.
    pub max_characters: usize,
    /// `public`, `unlisted`, `private` or `direct`.
    pub visibility: String,
    pub media_poll_interval_ms: u64,
    pub media_poll_attempts: u32,
}

impl Default for MastodonSettings {
    fn default() -> Self {
        MastodonSettings {
            enabled: true,
            max_characters: 500,
            visibility: "public".into(),
            media_poll_interval_ms: 1_000,
            media_poll_attempts: 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::Format;

    use super::*;

    #[test]
    fn partial_toml_fills_defaults_and_debug_hides_secrets() {
        let settings: SocialPlatformSettings = figment::Figment::new()
            .merge(figment::providers::Serialized::defaults(SocialPlatformSettings::default()))
            .merge(figment::providers::Toml::string(
                "[x]\nclient_id = \"abc\"\nclient_secret = \"very-secret\"\n[meta]\ngraph_version = \"v25.0\"",
            ))
            .extract()
            .unwrap();
        assert_eq!(settings.x.client_id, "abc");
        assert_eq!(settings.x.client_secret.expose(), "very-secret");
        assert_eq!(settings.x.api_base_url, "https://api.x.com");
        assert_eq!(settings.meta.graph_version, "v25.0");
        assert!(!format!("{settings:?}").contains("very-secret"));

        let unknown = figment::Figment::new()
            .merge(figment::providers::Toml::string("[x]\nclient_idd = \"typo\""))
            .extract::<SocialPlatformSettings>();
        assert!(unknown.is_err(), "a misspelt key must fail start-up, not be ignored");
    }
}
