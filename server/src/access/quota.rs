//! A token's publish quota: a token bucket of `burst` messages refilled at `per_second`.
//! A request passes while the bucket holds at least one message's worth and takes its whole
//! count (the level may go below zero), so a batch larger than the burst still passes
//! once, and the long-run rate stays at `per_second`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use switchyard_client::PublishRate;

/// Largest sustained rate a quota may set.
const MAX_PER_SECOND: u32 = 10_000_000;

/// Checks a quota's settings.
pub(super) fn validate(rate: PublishRate) -> Result<(), String> {
    if !(1..=MAX_PER_SECOND).contains(&rate.per_second) {
        return Err(format!(
            "publish_rate.per_second must be 1 to {MAX_PER_SECOND} (got {})",
            rate.per_second
        ));
    }
    if let Some(burst) = rate.burst
        && !(1..=MAX_PER_SECOND).contains(&burst)
    {
        return Err(format!(
            "publish_rate.burst must be 1 to {MAX_PER_SECOND} (got {burst})"
        ));
    }
    Ok(())
}

#[derive(Debug)]
pub(super) struct Bucket {
    rate: PublishRate,
    state: Mutex<Level>,
}

#[derive(Debug)]
struct Level {
    /// Messages' worth in the bucket (may be negative after a large batch).
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub(super) fn new(rate: PublishRate) -> Self {
        Self {
            rate,
            state: Mutex::new(Level {
                tokens: f64::from(rate.burst.unwrap_or(rate.per_second)),
                at: Instant::now(),
            }),
        }
    }

    pub(super) fn rate(&self) -> PublishRate {
        self.rate
    }

    /// Takes `count` messages, or says how long until a request can pass.
    pub(super) fn take(&self, count: usize, now: Instant) -> Result<(), Duration> {
        let per_second = f64::from(self.rate.per_second);
        let burst = f64::from(self.rate.burst.unwrap_or(self.rate.per_second));
        let mut level = self.state.lock().expect("quota lock");
        let elapsed = now.saturating_duration_since(level.at).as_secs_f64();
        level.tokens = (level.tokens + elapsed * per_second).min(burst);
        level.at = now;
        if level.tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - level.tokens) / per_second));
        }
        level.tokens -= count as f64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> PublishRate {
        PublishRate {
            per_second,
            burst: Some(burst),
        }
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let bucket = Bucket::new(rate(10, 5));
        let start = Instant::now();
        for _ in 0..5 {
            bucket.take(1, start).unwrap();
        }
        let wait = bucket.take(1, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        assert!(bucket.take(1, start + Duration::from_millis(99)).is_err());
        bucket.take(1, start + Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn a_batch_larger_than_the_burst_passes_once_then_owes_its_excess() {
        let bucket = Bucket::new(rate(100, 10));
        let start = Instant::now();
        bucket.take(60, start).unwrap();
        // 50 owed, plus one to pass: 510 ms at 100/s.
        let wait = bucket.take(1, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(510));
        bucket.take(1, start + wait).unwrap();
    }

    #[test]
    fn quotas_out_of_range_are_refused() {
        assert!(validate(rate(0, 1)).is_err());
        assert!(validate(rate(1, 0)).is_err());
        assert!(validate(rate(MAX_PER_SECOND + 1, 1)).is_err());
        assert!(validate(rate(1, 1)).is_ok());
    }
}
