//! Exponential backoff with jitter: attempt 1 waits ~2 s, then 4, 8 … capped at 6 hours.

use std::time::Duration;

use rand::Rng;

const BASE_SECS: f64 = 2.0;
const CAP_SECS: f64 = 6.0 * 3600.0;

/// Delay before the next attempt after `attempt` (1-based) failed: `2^attempt` seconds capped,
/// with ±25 % jitter so failures from one outage do not retry in lockstep.
pub fn delay(attempt: i32) -> Duration {
    let exp = BASE_SECS.powi(attempt.clamp(1, 30)).min(CAP_SECS);
    let jitter = rand::rng().random_range(0.75..=1.25);
    Duration::from_secs_f64((exp * jitter).min(CAP_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_with_bounded_jitter() {
        for attempt in 1..=10 {
            let d = delay(attempt).as_secs_f64();
            let base = 2f64.powi(attempt);
            assert!(d >= base * 0.75 && d <= base * 1.25, "attempt {attempt}: {d}");
        }
        assert!(delay(40).as_secs_f64() <= CAP_SECS);
    }
}
