//! Exponential per-key retry backoff with a cap and a retry budget.

use std::time::Duration;

/// How failed work items are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub base: Duration,
    /// Longest delay between retries.
    pub cap: Duration,
    /// Retries before the item is given up (it is picked up again by the next change or patrol).
    pub max_retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(60),
            max_retries: 15,
        }
    }
}

impl Backoff {
    /// Delay before retry number `failures` (1 = first retry): `base * 2^(failures-1)`, capped.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exp)
            .map_or(self.cap, |d| d.min(self.cap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(70),
            max_retries: 5,
        };
        assert_eq!(b.delay(1), Duration::from_millis(10));
        assert_eq!(b.delay(2), Duration::from_millis(20));
        assert_eq!(b.delay(3), Duration::from_millis(40));
        assert_eq!(b.delay(4), Duration::from_millis(70));
        assert_eq!(b.delay(200), Duration::from_millis(70));
    }
}
