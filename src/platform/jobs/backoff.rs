//! Retry delays. The default is exponential with jitter: attempt 1 waits ~2 s, then 4, 8 …
//! capped at 6 hours. A job kind with other needs overrides [`Job::backoff`](super::Job::backoff),
//! typically with a fixed [`schedule`].

use std::time::Duration;

use rand::Rng;

const BASE_SECS: f64 = 2.0;
const CAP_SECS: f64 = 6.0 * 3600.0;

/// Delay before the next attempt after `attempt` (1-based) failed: `2^attempt` seconds capped,
/// with ±25 % jitter so failures from one outage do not retry in lockstep.
pub fn delay(attempt: i32) -> Duration {
    let exp = BASE_SECS.powi(attempt.clamp(1, 30)).min(CAP_SECS);
    Duration::from_secs_f64((exp * jitter(0.25)).min(CAP_SECS))
}

/// The `attempt`-th (1-based) delay of a fixed schedule, its last entry repeating, with
/// ±`spread` jitter (0.1 for ±10 %).
pub fn schedule(delays: &[Duration], attempt: i32, spread: f64) -> Duration {
    let Some(last) = delays.last() else { return delay(attempt) };
    let index = usize::try_from(attempt.max(1) - 1).unwrap_or(0);
    delays.get(index).unwrap_or(last).mul_f64(jitter(spread))
}

fn jitter(spread: f64) -> f64 {
    let spread = spread.clamp(0.0, 0.9);
    rand::rng().random_range(1.0 - spread..=1.0 + spread)
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

    #[test]
    fn a_schedule_repeats_its_last_delay() {
        let steps = [Duration::from_secs(10), Duration::from_secs(100)];
        for _ in 0..50 {
            let first = schedule(&steps, 1, 0.1).as_secs_f64();
            assert!((9.0..=11.0).contains(&first), "{first}");
            for attempt in [2, 3, 9] {
                let later = schedule(&steps, attempt, 0.1).as_secs_f64();
                assert!((90.0..=110.0).contains(&later), "{attempt}: {later}");
            }
        }
        assert!(schedule(&[], 1, 0.1) <= Duration::from_secs_f64(2.5), "empty: the default");
    }
}
