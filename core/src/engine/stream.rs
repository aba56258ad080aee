//! What the engine holds for one accepted stream connection (RADIUS/TCP or
//! RadSec) besides its `connection.*` facts and its peer machine: the client's
//! terms, the decoder cutting its bytes into packets, and its idle timer (which
//! also holds the first-packet deadline of a connection nothing has proven yet).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contract::ServerId;
use crate::lang::program::NasIdentifierBinding;
use crate::radius::auth::VerifyPolicy;
use crate::radius::framing::StreamDecoder;
use crate::timers::TimerKey;

/// How long an accepted connection may stay without proving it belongs (see
/// [`StreamState::proven`]), even with `timeout 0`: longer than a NAS's first
/// Status-Server watchdog (radiusdtls-bis: every 15 s; RFC 3539's default Tw is
/// 30 s), short enough that silent sockets from inside a client range cannot hold
/// the server's descriptors for good.
pub const FIRST_PACKET_TIMEOUT: Duration = Duration::from_secs(60);

impl StreamState {
    /// When the idle timer must fire next: the idle deadline, and while the peer
    /// is unproven its first-packet deadline, whichever is earlier.
    pub fn next_check(&self) -> Option<Instant> {
        let idle = self.idle.map(|d| self.last_activity + d);
        let first = (!self.proven).then(|| self.opened + FIRST_PACKET_TIMEOUT);
        match (idle, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The engine's state of one inbound stream connection.
#[derive(Debug)]
pub(crate) struct StreamState {
    /// The client's secret (inbound requests, our replies to them).
    pub secret: Arc<[u8]>,
    /// BlastRADIUS checks (TCP only; none on TLS).
    pub verify: VerifyPolicy,
    /// The server's policy pin.
    pub server: ServerId,
    /// Cuts the byte stream into packets.
    pub decoder: StreamDecoder,
    /// Idle timeout (`None`: disabled).
    pub idle: Option<Duration>,
    /// When the last whole packet arrived (or the connection opened).
    pub last_activity: Instant,
    /// When it opened.
    pub opened: Instant,
    /// The peer proved it belongs: a verified packet arrived (a request, or a reply
    /// to ours), or it presented a verified client certificate. Until then it must
    /// do so within [`FIRST_PACKET_TIMEOUT`] whatever its idle timeout.
    pub proven: bool,
    /// The idle timer.
    pub idle_timer: Option<TimerKey>,
    /// Requests from the peer being handled.
    pub tasks: usize,
    /// The liveness probe's timeout (`None`: probing off); see
    /// [`crate::engine::liveness`].
    pub probe_timeout: Option<Duration>,
    /// What its announced NAS-Identifier must match (the client's setting).
    pub binding: NasIdentifierBinding,
}
