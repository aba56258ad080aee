//! The network's virtual clock.
//!
//! The core never reads a real clock, so the network keeps its own: a base
//! [`Instant`] handed in once by the test (the only real reading, made outside
//! the core) plus the virtual time elapsed since. Wall time starts at a fixed
//! epoch so that timestamps the engine writes are the same on every run.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::engine::Now;

/// The wall-clock time at virtual time zero unless a test picks another.
pub const DEFAULT_EPOCH_SECS: u64 = 1_700_000_000;

/// Virtual time: a monotonic base and a wall-clock epoch, both advanced together.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    wall: SystemTime,
    elapsed: Duration,
}

impl Clock {
    /// A clock at virtual time zero, `base` being the instant zero maps to.
    pub fn new(base: Instant) -> Self {
        Self::with_epoch(base, UNIX_EPOCH + Duration::from_secs(DEFAULT_EPOCH_SECS))
    }

    /// A clock whose wall time at zero is `wall`.
    pub fn with_epoch(base: Instant, wall: SystemTime) -> Self {
        Clock {
            base,
            wall,
            elapsed: Duration::ZERO,
        }
    }

    /// The time to hand to the engine.
    pub fn now(&self) -> Now {
        Now {
            mono: self.base + self.elapsed,
            wall: self.wall + self.elapsed,
        }
    }

    /// Virtual time elapsed since zero.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Move to virtual time `to`; the clock never goes back.
    pub fn set(&mut self, to: Duration) {
        self.elapsed = self.elapsed.max(to);
    }

    /// Move forward by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.elapsed += d;
    }

    /// The virtual time of an engine deadline (zero for one before the base).
    pub fn at(&self, i: Instant) -> Duration {
        i.saturating_duration_since(self.base)
    }
}
