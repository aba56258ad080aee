//! Time as the driver hands it in.
//!
//! The core never reads a clock. Every entry point of the engine takes a [`Now`]:
//! the monotonic instant drives timers (idle timeouts, reply timeouts, cache
//! expiry) and the wall-clock time fills timestamps that leave the process
//! (`connection.connected`, `connection.status.received`, Event-Timestamp,
//! `datetime.timestamp`).

use std::time::{Instant, SystemTime};

/// The current time, read once by the driver (or the simulator's virtual clock)
/// and passed to every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time: deadlines and timers.
    pub mono: Instant,
    /// Wall-clock time: timestamps visible to peers and pipelines.
    pub wall: SystemTime,
}
