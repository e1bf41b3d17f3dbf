//! When may we call again? Each platform says it differently; this reads all of them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Values above this are epoch seconds, below it a number of seconds to wait (an epoch this
/// small would be 1973).
const EPOCH_THRESHOLD: i64 = 100_000_000;

/// The wait the response asks for, from the first header that names one:
/// - `Retry-After` (seconds or an HTTP date), all platforms;
/// - X: `x-user-limit-24hour-reset` when the daily posting cap is used up, else
///   `x-rate-limit-reset` (epoch seconds);
/// - Mastodon `X-RateLimit-Reset` (ISO 8601), Bluesky `RateLimit-Reset` (epoch seconds), the IETF
///   draft `RateLimit-Reset` (seconds);
/// - Meta `x-business-use-case-usage` (`estimated_time_to_regain_access`, minutes) and
///   `x-ad-account-usage` (`reset_time_duration`, seconds). `x-app-usage` gives percentages but
///   no time, so it yields `None` and the caller's backoff applies.
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(d) = header(headers, "retry-after").and_then(|v| parse_retry_after(v, now)) {
        return Some(d);
    }
    if header(headers, "x-user-limit-24hour-remaining").map(str::trim) == Some("0")
        && let Some(d) = header(headers, "x-user-limit-24hour-reset").and_then(|v| reset(v, now))
    {
        return Some(d);
    }
    for name in ["x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset"] {
        if let Some(d) = header(headers, name).and_then(|v| reset(v, now)) {
            return Some(d);
        }
    }
    if let Some(d) = header(headers, "x-business-use-case-usage").and_then(meta_business_wait) {
        return Some(d);
    }
    header(headers, "x-ad-account-usage").and_then(meta_ad_account_wait)
}

/// The highest usage percentage in Meta's `x-app-usage` header, for warnings before throttling.
pub(crate) fn meta_app_usage_percent(headers: &HeaderMap) -> Option<i64> {
    let value: Value = serde_json::from_str(header(headers, "x-app-usage")?).ok()?;
    ["call_count", "total_time", "total_cputime"]
        .iter()
        .filter_map(|k| value.get(*k).and_then(Value::as_i64))
        .max()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some(until(at, now))
}

/// A reset value: epoch seconds, seconds to wait, or an ISO 8601 instant.
fn reset(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(n) = value.parse::<i64>() {
        if n >= EPOCH_THRESHOLD {
            return DateTime::from_timestamp(n, 0).map(|at| until(at, now));
        }
        return Some(Duration::from_secs(u64::try_from(n.max(0)).unwrap_or(0)));
    }
    let at = DateTime::parse_from_rfc3339(value).ok()?.with_timezone(&Utc);
    Some(until(at, now))
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

/// `{"<business id>": [{"type": "pages", "call_count": 100, ..., "estimated_time_to_regain_access": 15}]}`
fn meta_business_wait(value: &str) -> Option<Duration> {
    let parsed: Value = serde_json::from_str(value).ok()?;
    let minutes = parsed
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|entry| entry.get("estimated_time_to_regain_access").and_then(Value::as_u64))
        .max()?;
    (minutes > 0).then(|| Duration::from_secs(minutes * 60))
}

/// `{"acc_id_util_pct": 100, "reset_time_duration": 120, ...}`
fn meta_ad_account_wait(value: &str) -> Option<Duration> {
    let parsed: Value = serde_json::from_str(value).ok()?;
    let secs = parsed.get("reset_time_duration").and_then(Value::as_u64)?;
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        let h = headers(&[("retry-after", "42")]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(42)));
        let h = headers(&[("retry-after", "Wed, 25 Nov 2026 10:01:30 GMT")]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(90)));
    }

    #[test]
    fn x_epoch_reset_and_daily_cap() {
        let reset = now().timestamp() + 300;
        let h = headers(&[("x-rate-limit-reset", &reset.to_string())]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(300)));

        let daily = now().timestamp() + 3_600;
        let h = headers(&[
            ("x-rate-limit-reset", &reset.to_string()),
            ("x-user-limit-24hour-remaining", "0"),
            ("x-user-limit-24hour-reset", &daily.to_string()),
        ]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(3_600)));

        // A reset in the past means "now", not a negative wait.
        let h = headers(&[("x-rate-limit-reset", &(now().timestamp() - 10).to_string())]);
        assert_eq!(retry_after(&h, now()), Some(Duration::ZERO));
    }

    #[test]
    fn mastodon_iso_and_bluesky_epoch_and_ietf_delta() {
        let h = headers(&[("x-ratelimit-reset", "2026-11-25T10:05:00.000Z")]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(300)));
        let h = headers(&[("ratelimit-reset", &(now().timestamp() + 60).to_string())]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(60)));
        let h = headers(&[("ratelimit-reset", "30")]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(30)));
    }

    #[test]
    fn meta_usage_headers() {
        let h = headers(&[(
            "x-business-use-case-usage",
            r#"{"112233":[{"type":"pages","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":15}]}"#,
        )]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(15 * 60)));
        let h = headers(&[(
            "x-ad-account-usage",
            r#"{"acc_id_util_pct":100,"reset_time_duration":120}"#,
        )]);
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(120)));
        let h =
            headers(&[("x-app-usage", r#"{"call_count":100,"total_time":25,"total_cputime":40}"#)]);
        assert_eq!(retry_after(&h, now()), None);
        assert_eq!(meta_app_usage_percent(&h), Some(100));
    }
}
