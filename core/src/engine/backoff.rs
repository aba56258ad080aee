//! Reconnection delays: exponential backoff with "equal jitter".
//!
//! A peer that keeps refusing us must not be hammered, and a fleet of NAS that
//! lost their server at the same moment must not all come back in the same
//! millisecond. The n-th consecutive failure (counting from 0) waits a delay drawn
//! uniformly from `[c/2, c]` where `c = min(cap, base · 2ⁿ)`. Because each ceiling
//! is twice the previous one until the cap, every delay is at least the previous
//! one's ceiling: delays never decrease until the cap is reached, and after it they
//! stay in `[cap/2, cap]`. Attempts are never bounded; only the delay is.
//!
//! The random draw comes from the injected [`RandomSource`], so a seed fixes every
//! delay.

use std::time::Duration;

use crate::rng::RandomSource;

/// First reconnection ceiling (the first delay is in `[250 ms, 500 ms]`).
pub const DEFAULT_BASE: Duration = Duration::from_millis(500);
/// Largest reconnection ceiling (delays at the cap are in `[15 s, 30 s]`).
pub const DEFAULT_CAP: Duration = Duration::from_secs(30);

/// The backoff state of one peer: how many consecutive failures it has had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(DEFAULT_BASE, DEFAULT_CAP)
    }
}

impl Backoff {
    /// A backoff whose ceilings start at `base` and double up to `cap`. A zero
    /// `base` is raised to one millisecond and a `cap` below `base` to `base`, so
    /// that a delay is never zero (which would turn a refusing peer into a busy loop).
    pub fn new(base: Duration, cap: Duration) -> Self {
        let base = base.max(Duration::from_millis(1));
        Backoff {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// The ceiling `c` of the next delay: `min(cap, base · 2^failures)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The smallest delay [`Backoff::next_delay`] can return now (`ceiling / 2`).
    pub fn floor(&self) -> Duration {
        self.ceiling() / 2
    }

    /// Draw the delay before the next attempt and count one more failure.
    pub fn next_delay(&mut self, rng: &mut dyn RandomSource) -> Duration {
        let ceiling = self.ceiling();
        let half = ceiling / 2;
        let spread = ceiling - half;
        let mut bytes = [0u8; 8];
        rng.fill(&mut bytes);
        let draw = u64::from_le_bytes(bytes);
        let spread_nanos = spread.as_nanos();
        // `spread_nanos + 1` cannot overflow u128; the result is at most `spread`.
        let offset = u128::from(draw) % (spread_nanos + 1);
        let offset = Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
        self.failures = self.failures.saturating_add(1);
        half + offset.min(spread)
    }

    /// Forget past failures: the peer proved healthy, so the next delay is short again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures counted so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The largest ceiling.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The first ceiling.
    pub fn base(&self) -> Duration {
        self.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn delays_grow_within_bounds_until_the_cap_then_stay_bounded() {
        for seed in 0..50 {
            let mut rng = SplitMix64::new(seed);
            let mut b = Backoff::default();
            let mut previous = Duration::ZERO;
            for n in 0..20u32 {
                let ceiling = b.ceiling();
                let d = b.next_delay(&mut rng);
                assert!(d >= ceiling / 2 && d <= ceiling, "seed {seed} n {n}: {d:?}");
                assert!(d <= DEFAULT_CAP);
                if ceiling < DEFAULT_CAP {
                    assert!(d >= previous, "seed {seed} n {n}: {d:?} < {previous:?}");
                }
                previous = d;
            }
            assert_eq!(b.failures(), 20);
            b.reset();
            assert_eq!(b.ceiling(), DEFAULT_BASE);
        }
    }

    #[test]
    fn same_seed_same_delays() {
        let run = |seed| {
            let mut rng = SplitMix64::new(seed);
            let mut b = Backoff::default();
            (0..10).map(|_| b.next_delay(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn degenerate_settings_never_give_a_zero_delay() {
        let mut rng = SplitMix64::new(1);
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
        for _ in 0..5 {
            assert!(b.next_delay(&mut rng) > Duration::ZERO);
        }
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(u64::MAX));
        for _ in 0..100 {
            let _ = b.next_delay(&mut rng);
        }
    }
}
