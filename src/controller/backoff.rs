//! Per-key retry delays: exponential growth with jitter, capped.

use std::time::Duration;

/// How long a key waits before its next attempt after consecutive failures.
///
/// Jitter spreads retries of many keys that failed together (one Jira outage fails every
/// integration at once) so they do not hit the remote side in lockstep when it comes back.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry; doubles with every further consecutive failure.
    pub initial: Duration,
    /// Upper bound, so a long outage still gets retried at a useful rate.
    pub max: Duration,
    /// Fraction of the delay removed at random, clamped to `0.0..=0.5`. The clamp keeps each
    /// delay at least as long as the previous one, so backoff never shrinks while failing.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The capped delay without jitter for the `attempt`-th consecutive failure (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The delay to wait after the `attempt`-th consecutive failure (1-based), jitter applied.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 0.5)
        } else {
            0.0
        };
        let cut = jitter * rand::random::<f64>();
        ceiling.mul_f64(1.0 - cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_until_the_cap_and_stay_within_jitter() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
            jitter: 0.5,
        };
        assert_eq!(b.ceiling(1), Duration::from_secs(1));
        assert_eq!(b.ceiling(2), Duration::from_secs(2));
        assert_eq!(b.ceiling(4), Duration::from_secs(8));
        assert_eq!(b.ceiling(5), Duration::from_secs(10));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(10));
        for attempt in 1..8 {
            let d = b.delay(attempt);
            assert!(d <= b.ceiling(attempt));
            assert!(d >= b.ceiling(attempt) / 2);
        }
    }

    #[test]
    fn absurd_jitter_is_clamped() {
        let b = Backoff {
            initial: Duration::from_secs(4),
            max: Duration::from_secs(4),
            jitter: f64::NAN,
        };
        assert_eq!(b.delay(3), Duration::from_secs(4));
        let b = Backoff { jitter: 7.0, ..b };
        assert!(b.delay(1) >= Duration::from_secs(2));
    }
}
