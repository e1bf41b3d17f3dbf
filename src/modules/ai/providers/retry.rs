//! When to try a provider again: exponential backoff with jitter, or the provider's own hint
//! (`Retry-After`, OpenAI and Anthropic rate-limit reset headers). A hint longer than the cap
//! is not waited for here; it goes back to the caller with the error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::header::HeaderMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one; 0 disables retries.
    pub max_retries: u32,
    /// Backoff before the first retry when the provider gives no hint; doubles each time.
    pub base_delay: Duration,
    /// No single wait is longer. When the provider asks for a longer one, the call is not
    /// retried here: the error carries the provider's hint, so the fallback chain moves on or
    /// the job retries once that time has passed. A caller holding a user request (or a job
    /// slot) should rather fail over than sleep for minutes, and retrying sooner than asked
    /// only earns another 429.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first retry), or `None` when the
    /// provider's hint is longer than `max_delay` and the call should not be retried here.
    pub fn delay(&self, retry: u32, hint: Option<Duration>) -> Option<Duration> {
        match hint {
            Some(hint) if hint > self.max_delay => None,
            Some(hint) => Some(hint),
            None => {
                let full = self.base_delay.saturating_mul(2u32.saturating_pow(retry));
                Some(jitter(full.min(self.max_delay)))
            }
        }
    }
}

/// "Equal jitter": half the delay is kept, the other half is random, so clients that failed
/// together do not retry together yet each still backs off.
fn jitter(delay: Duration) -> Duration {
    let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
    if micros < 2 {
        return delay;
    }
    let half = micros / 2;
    Duration::from_micros(half + rand::rng().random_range(0..=micros - half))
}

/// The provider's hint for when to retry, from the response headers.
pub(crate) fn hint_from_headers(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return duration_from_secs(ms / 1000.0);
    }
    if let Some(value) = text("retry-after") {
        if let Some(d) = value.parse::<f64>().ok().and_then(duration_from_secs) {
            return Some(d);
        }
        if let Ok(date) = DateTime::parse_from_rfc2822(value) {
            return Some(until(date.with_timezone(&Utc), now));
        }
    }
    reset_hint(headers, now)
}

/// The latest reset among the rate limits that are used up. Limits with quota left are ignored:
/// a token budget resetting in minutes is irrelevant when only the request budget ran out.
fn reset_hint(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let exhausted = |name: &str| text(name).is_some_and(|v| v == "0");
    let mut hints = Vec::new();
    for limit in ["requests", "tokens"] {
        if exhausted(&format!("x-ratelimit-remaining-{limit}"))
            && let Some(d) = text(&format!("x-ratelimit-reset-{limit}")).and_then(parse_go_duration)
        {
            hints.push(d);
        }
    }
    for limit in ["requests", "tokens", "input-tokens", "output-tokens"] {
        if exhausted(&format!("anthropic-ratelimit-{limit}-remaining"))
            && let Some(at) = text(&format!("anthropic-ratelimit-{limit}-reset"))
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        {
            hints.push(until(at.with_timezone(&Utc), now));
        }
    }
    hints.into_iter().max()
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

fn duration_from_secs(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok()
}

/// Parses OpenAI's reset durations, written like Go's `time.Duration`: `1s`, `6m0s`, `20ms`,
/// `1h2m3.5s`.
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0_f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number.parse().ok()?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    duration_from_secs(total)
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(HeaderName::from_static(k), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        assert_eq!(
            hint_from_headers(&headers(&[("retry-after", "7")]), now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            hint_from_headers(&headers(&[("retry-after", "Fri, 02 Jan 2026 03:04:35 GMT")]), now()),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "now", not an error.
        assert_eq!(
            hint_from_headers(&headers(&[("retry-after", "Thu, 01 Jan 2026 00:00:00 GMT")]), now()),
            Some(Duration::ZERO)
        );
        assert_eq!(
            hint_from_headers(&headers(&[("retry-after-ms", "250"), ("retry-after", "9")]), now()),
            Some(Duration::from_millis(250))
        );
        assert_eq!(hint_from_headers(&headers(&[("retry-after", "soon")]), now()), None);
    }

    #[test]
    fn openai_reset_headers_count_only_when_exhausted() {
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1.5s"),
            ("x-ratelimit-remaining-tokens", "120"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(hint_from_headers(&h, now()), Some(Duration::from_millis(1500)));
        let h =
            headers(&[("x-ratelimit-remaining-tokens", "5"), ("x-ratelimit-reset-tokens", "6m0s")]);
        assert_eq!(hint_from_headers(&h, now()), None);
    }

    #[test]
    fn anthropic_reset_headers_are_timestamps() {
        let h = headers(&[
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2026-01-02T03:04:15Z"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2026-01-02T03:04:08Z"),
        ]);
        assert_eq!(hint_from_headers(&h, now()), Some(Duration::from_secs(10)));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("3"), None);
        assert_eq!(parse_go_duration("2x"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn delays_grow_with_jitter_and_respect_the_cap() {
        let policy = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let first = policy.delay(0, None).unwrap();
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay(2, None).unwrap();
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(policy.delay(20, None).unwrap() <= Duration::from_millis(1000));
        }
        assert_eq!(
            policy.delay(0, Some(Duration::from_millis(300))),
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            policy.delay(0, Some(Duration::from_millis(1000))),
            Some(Duration::from_secs(1))
        );
        // Longer than the cap: not retried early, the hint goes back to the caller.
        assert_eq!(policy.delay(0, Some(Duration::from_secs(60))), None);
    }
}
