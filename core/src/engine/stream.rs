//! What the engine holds for one accepted stream connection (RADIUS/TCP or
//! RadSec) besides its `connection.*` facts and its peer machine: the client's
//! terms, the decoder cutting its bytes into packets, and its idle timer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contract::ServerId;
use crate::lang::program::NasIdentifierBinding;
use crate::radius::auth::VerifyPolicy;
use crate::radius::framing::StreamDecoder;
use crate::timers::TimerKey;

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
