//! `[social]`: the social booster's settings (linked accounts, publishing, rate budgets,
//! analytics) and, under `[social.platforms]`, each platform's API settings. Compiled with or
//! without the `social` feature, like every section of `Settings`.

pub mod platforms;

use serde::{Deserialize, Serialize};

pub use platforms::SocialPlatformSettings;

use super::{ConfigError, CronEntry};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocialSettings {
    /// How long an OAuth `state` (and its PKCE verifier) stays usable after the redirect.
    pub oauth_state_ttl_secs: u64,
    /// Tokens are refreshed when they expire within this long (or within a quarter of their
    /// lifetime, whichever is shorter), by the `social.refresh_tokens` job.
    pub refresh_ahead_secs: u64,
    /// Owners are warned (event `account.expiring` and an e-mail) this many days before a
    /// token that cannot be refreshed expires (LinkedIn's 60-day member tokens), and posts
    /// scheduled after that expiry are answered with a warning.
    pub expiry_warning_days: u32,
    /// Let Mastodon instances and Bluesky PDS URLs point at private addresses (tests, a
    /// self-hosted instance on the same network). Off: such URLs are refused when linking.
    pub allow_private_instances: bool,
    /// Widest range `GET /api/calendar` accepts, in days.
    pub calendar_max_days: u32,
    pub publishing: PublishingSettings,
    pub budgets: BudgetSettings,
    pub analytics: AnalyticsSettings,
    pub platforms: SocialPlatformSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishingSettings {
    /// Tries per target before it fails for good (rate limits and outages included).
    pub max_attempts: i32,
    /// First retry delay after a temporary error; doubles per attempt up to `retry_max_secs`.
    /// A platform's `Retry-After` always wins.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// Wait after an unknown outcome (timeout) before reading the account's recent posts, so
    /// the platform has indexed the post if it was created.
    pub reconcile_delay_secs: u64,
    /// A request in flight for longer than this is treated as lost (its worker died) and
    /// reconciled; keep it above the longest publish (uploads, Instagram processing).
    pub in_flight_timeout_secs: u64,
    /// A due target not claimed within this long raises an alarm and is re-queued. The sweep
    /// runs every 30 seconds, so with 30 a stuck target is noticed within 60 seconds.
    pub sweeper_grace_secs: u64,
    /// Refresh the access token before publishing when it expires within this long.
    pub refresh_skew_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetSettings {
    /// Length of the fixed window both budgets count in (Redis counters).
    pub window_secs: u64,
    /// Posts per linked account per window; more wait for the next window.
    pub account_max_posts: u64,
    /// Posts per platform (this SmartFlow app's quota) per window.
    pub app_max_posts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// Metrics are collected for posts published within this many days.
    pub post_lookback_days: u32,
    /// Posts needed in a weekday/hour slot before it can be recommended as a best time.
    pub best_time_min_posts: u32,
}

impl Default for SocialSettings {
    fn default() -> Self {
        SocialSettings {
            oauth_state_ttl_secs: 600,
            refresh_ahead_secs: 86_400,
            expiry_warning_days: 7,
            allow_private_instances: false,
            calendar_max_days: 93,
            publishing: PublishingSettings::default(),
            budgets: BudgetSettings::default(),
            analytics: AnalyticsSettings::default(),
            platforms: SocialPlatformSettings::default(),
        }
    }
}

impl Default for PublishingSettings {
    fn default() -> Self {
        PublishingSettings {
            max_attempts: 10,
            retry_base_secs: 30,
            retry_max_secs: 3_600,
            reconcile_delay_secs: 20,
            in_flight_timeout_secs: 300,
            sweeper_grace_secs: 30,
            refresh_skew_secs: 120,
        }
    }
}

impl Default for BudgetSettings {
    fn default() -> Self {
        BudgetSettings { window_secs: 900, account_max_posts: 50, app_max_posts: 1_000 }
    }
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        AnalyticsSettings { post_lookback_days: 30, best_time_min_posts: 3 }
    }
}

impl SocialSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.publishing;
        // The publish job gives up on its own after `PublishTarget::MAX_ATTEMPTS` (50) runs;
        // the ledger must give up first, with a hint, or the sweeper re-queues it for ever.
        if !(1..=40).contains(&p.max_attempts) {
            return Err(ConfigError::invalid("social.publishing.max_attempts", "from 1 to 40"));
        }
        if p.retry_base_secs == 0 || p.retry_max_secs < p.retry_base_secs {
            return Err(ConfigError::invalid(
                "social.publishing.retry_max_secs",
                "retry_base_secs must be at least 1 and retry_max_secs at least retry_base_secs",
            ));
        }
        if self.budgets.window_secs == 0 {
            return Err(ConfigError::invalid("social.budgets.window_secs", "at least 1"));
        }
        if self.oauth_state_ttl_secs < 60 {
            return Err(ConfigError::invalid(
                "social.oauth_state_ttl_secs",
                "at least 60 seconds, so people can log in at the platform",
            ));
        }
        if !(1..=366).contains(&self.calendar_max_days) {
            return Err(ConfigError::invalid("social.calendar_max_days", "from 1 to 366"));
        }
        Ok(())
    }
}

/// The social booster's cron entries, appended to `[[cron.entries]]` by default.
pub fn default_cron_entries() -> Vec<CronEntry> {
    let entry = |name: &str, schedule: &str, job: &str| CronEntry {
        name: name.into(),
        schedule: schedule.into(),
        timezone: "UTC".into(),
        job: job.into(),
        enabled: true,
    };
    vec![
        // Every 30 seconds: with the 30-second grace a due target nobody claimed is found
        // within a minute.
        entry("social-sweep", "*/30 * * * * *", "social.sweep"),
        entry("social-refresh-tokens", "30 */5 * * * *", "social.refresh_tokens"),
        entry("social-collect-metrics", "0 7 * * * *", "social.collect_metrics"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_the_key() {
        assert!(SocialSettings::default().validate().is_ok());
        let mut s = SocialSettings::default();
        s.publishing.retry_max_secs = 1;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("social.publishing.retry_max_secs"), "{err}");
        let s = SocialSettings { calendar_max_days: 0, ..SocialSettings::default() };
        assert!(s.validate().unwrap_err().to_string().contains("calendar_max_days"));
    }
}
