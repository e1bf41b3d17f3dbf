//! Builds every adapter once from settings and hands them out by [`Platform`].

use std::sync::Arc;

use super::{
    adapter::PlatformAdapter,
    bluesky::BlueskyAdapter,
    linkedin::LinkedInAdapter,
    mastodon::MastodonAdapter,
    meta::{facebook::FacebookAdapter, instagram::InstagramAdapter},
    settings::SocialPlatformSettings,
    types::Platform,
    x::XAdapter,
};

/// Whether a platform can be used on this server, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformStatus {
    pub platform: Platform,
    pub configured: bool,
    /// What an operator must set; `None` when configured.
    pub missing: Option<String>,
}

#[derive(Clone)]
pub struct PlatformRegistry {
    statuses: Vec<PlatformStatus>,
    // Concrete types, so the platform-specific linking steps (Page listing, app passwords,
    // organizations) stay reachable next to the common trait.
    x: Arc<XAdapter>,
    facebook: Arc<FacebookAdapter>,
    instagram: Arc<InstagramAdapter>,
    linkedin: Arc<LinkedInAdapter>,
    bluesky: Arc<BlueskyAdapter>,
    mastodon: Arc<MastodonAdapter>,
}

impl PlatformRegistry {
    /// Every adapter shares `client` (its connection pool); each call sets its own timeout.
    pub fn from_settings(settings: &SocialPlatformSettings, client: reqwest::Client) -> Self {
        let (timeout, upload) = (settings.request_timeout(), settings.upload_timeout());
        let x = Arc::new(XAdapter::new(client.clone(), &settings.x, timeout, upload));
        let facebook = Arc::new(FacebookAdapter::new(
            client.clone(),
            &settings.meta,
            &settings.facebook,
            timeout,
            upload,
        ));
        let instagram = Arc::new(InstagramAdapter::new(
            client.clone(),
            &settings.meta,
            &settings.instagram,
            timeout,
            upload,
        ));
        let linkedin =
            Arc::new(LinkedInAdapter::new(client.clone(), &settings.linkedin, timeout, upload));
        let bluesky =
            Arc::new(BlueskyAdapter::new(client.clone(), &settings.bluesky, timeout, upload));
        let mastodon = Arc::new(MastodonAdapter::new(client, &settings.mastodon, timeout, upload));

        PlatformRegistry {
            statuses: statuses(settings),
            x,
            facebook,
            instagram,
            linkedin,
            bluesky,
            mastodon,
        }
    }

    /// The adapter for `platform`. Always present: publishing with stored tokens works even
    /// where linking new accounts is not configured; linking reports `Config` errors itself.
    pub fn get(&self, platform: Platform) -> Arc<dyn PlatformAdapter> {
        match platform {
            Platform::X => self.x.clone(),
            Platform::Facebook => self.facebook.clone(),
            Platform::Instagram => self.instagram.clone(),
            Platform::LinkedIn => self.linkedin.clone(),
            Platform::Bluesky => self.bluesky.clone(),
            Platform::Mastodon => self.mastodon.clone(),
        }
    }

    /// Each platform with whether it is configured, for the health check.
    pub fn configured(&self) -> &[PlatformStatus] {
        &self.statuses
    }

    pub fn is_configured(&self, platform: Platform) -> bool {
        self.statuses.iter().any(|s| s.platform == platform && s.configured)
    }

    pub fn facebook(&self) -> &FacebookAdapter {
        &self.facebook
    }

    pub fn instagram(&self) -> &InstagramAdapter {
        &self.instagram
    }

    pub fn linkedin(&self) -> &LinkedInAdapter {
        &self.linkedin
    }

    pub fn bluesky(&self) -> &BlueskyAdapter {
        &self.bluesky
    }

    pub fn mastodon(&self) -> &MastodonAdapter {
        &self.mastodon
    }
}

/// What each platform needs configured, without building any client.
pub fn statuses(settings: &SocialPlatformSettings) -> Vec<PlatformStatus> {
    let status = |platform, missing: Option<&str>| PlatformStatus {
        platform,
        configured: missing.is_none(),
        missing: missing.map(str::to_string),
    };
    let meta_missing = (settings.meta.app_id.trim().is_empty()
        || !settings.meta.app_secret.is_set())
    .then_some("social.platforms.meta.app_id and app_secret");
    vec![
        status(
            Platform::X,
            settings.x.client_id.trim().is_empty().then_some("social.platforms.x.client_id"),
        ),
        status(Platform::Facebook, meta_missing),
        status(Platform::Instagram, meta_missing),
        status(
            Platform::LinkedIn,
            (settings.linkedin.client_id.trim().is_empty()
                || !settings.linkedin.client_secret.is_set())
            .then_some("social.platforms.linkedin.client_id and client_secret"),
        ),
        status(
            Platform::Bluesky,
            (!settings.bluesky.enabled).then_some("social.platforms.bluesky.enabled = true"),
        ),
        status(
            Platform::Mastodon,
            (!settings.mastodon.enabled).then_some("social.platforms.mastodon.enabled = true"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn reports_what_is_configured() {
        crate::app::install_crypto_provider();
        let mut settings = SocialPlatformSettings::default();
        settings.x.client_id = "client".into();
        settings.meta.app_id = "app".into();
        let registry = PlatformRegistry::from_settings(&settings, reqwest::Client::new());
        assert!(registry.is_configured(Platform::X));
        assert!(!registry.is_configured(Platform::Facebook), "the secret is missing");
        assert!(!registry.is_configured(Platform::LinkedIn));
        assert!(registry.is_configured(Platform::Bluesky));
        let facebook = registry.configured().iter().find(|s| s.platform == Platform::Facebook);
        assert!(facebook.unwrap().missing.as_deref().unwrap().contains("app_secret"));

        settings.meta.app_secret = Secret::new("s");
        let registry = PlatformRegistry::from_settings(&settings, reqwest::Client::new());
        assert!(registry.is_configured(Platform::Instagram));
        for p in Platform::ALL {
            assert_eq!(registry.get(p).platform(), p);
        }
    }
}
