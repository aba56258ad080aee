//! How an engine is set up: randomness, the environment map, and its bounds.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::rng::RandomSource;

/// Everything an [`Engine`](crate::engine::Engine) needs besides the program.
pub struct EngineOptions {
    /// Randomness (Request Authenticators, Tunnel-Password salts). The driver seeds
    /// it from the OS; the simulator from its master seed.
    pub rng: Box<dyn RandomSource + Send>,
    /// `env.*` as pipelines read it (the core never reads the process environment).
    pub env: BTreeMap<String, String>,
    /// Bounds on everything that grows with load.
    pub limits: Limits,
}

impl std::fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineOptions")
            .field("env", &self.env)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Bounds on the engine's state. Reaching one is a defined outcome (a dropped
/// trigger, `errors.QUEUE_FULL`), never unbounded growth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Requests (UDP, stream, HTTP) being handled at once; more are dropped (UDP,
    /// stream) or answered 503 (HTTP).
    pub max_tasks: usize,
    /// Reverse requests waiting for an identifier on one connection (all 256 in
    /// flight); one more fails with `errors.QUEUE_FULL`.
    pub max_queue_per_connection: usize,
    /// Entries of the UDP duplicate-detection cache (in flight and answered).
    pub duplicate_cache_entries: usize,
    /// How long an answered UDP request's reply is kept for retransmissions.
    pub duplicate_cache_ttl: Duration,
    /// Use the `@select` index (exact-match pre-filter on `connection.id`,
    /// `connection.status.nas_identifier`, `connection.cert.subject.cn`) when the
    /// pipeline's shape allows; the result always equals the plain scan.
    pub select_index: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tasks: 100_000,
            max_queue_per_connection: 16_384,
            duplicate_cache_entries: 65_536,
            duplicate_cache_ttl: Duration::from_secs(30),
            select_index: true,
        }
    }
}
