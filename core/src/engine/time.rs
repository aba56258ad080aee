//! Time as the driver hands it in (scaffold: replaced by the engine's own file at merge).

/// The current time, passed into every entry point: `mono` drives timers, `wall`
/// fills timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for timers.
    pub mono: std::time::Instant,
    /// Wall-clock time, for timestamps.
    pub wall: std::time::SystemTime,
}
