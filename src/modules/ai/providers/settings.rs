//! The `[ai]` settings live in `crate::config::ai` (they must parse without the `ai` feature);
//! this file turns them into client options.

use std::time::Duration;

pub use crate::config::ai::{
    ANTHROPIC_BASE_URL, AiProviderSettings, BUILT_IN, CompatibleSettings, GEMINI_BASE_URL,
    OPENAI_BASE_URL, PriceSettings, ProviderSettings, built_in_defaults,
};

use super::{retry::RetryPolicy, transport::ClientOptions};

/// Timeouts and retries of one configured provider.
pub trait ClientOptionsExt {
    fn client_options(&self) -> ClientOptions;
}

impl ClientOptionsExt for ProviderSettings {
    fn client_options(&self) -> ClientOptions {
        client_options(
            self.timeout_ms,
            self.stream_idle_timeout_ms,
            self.max_retries,
            self.retry_base_delay_ms,
            self.max_retry_delay_ms,
        )
    }
}

impl ClientOptionsExt for CompatibleSettings {
    fn client_options(&self) -> ClientOptions {
        client_options(
            self.timeout_ms,
            self.stream_idle_timeout_ms,
            self.max_retries,
            self.retry_base_delay_ms,
            self.max_retry_delay_ms,
        )
    }
}

fn client_options(timeout: u64, idle: u64, retries: u32, base: u64, max: u64) -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_millis(timeout),
        stream_idle_timeout: Duration::from_millis(idle),
        retry: RetryPolicy {
            max_retries: retries,
            base_delay: Duration::from_millis(base),
            max_delay: Duration::from_millis(max),
        },
    }
}
