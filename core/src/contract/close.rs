//! Why a stream connection closed: the one [`CloseReason`] of the workspace, for
//! the engine's closes and the driver's alike.

use thiserror::Error;

use crate::radius::code::Code;
use crate::radius::error::{AuthError, DecodeError, FramingError};

/// Why a stream connection closed.
///
/// The engine closes with [`Output::StreamClose`](super::Output::StreamClose) and
/// one of the reasons up to [`CloseReason::Reconfigured`]; the driver reports the
/// closes it sees itself (the peer closed, the write queue filled, shutdown) with
/// the rest. [`CloseReason::label`] is the `reason` label of
/// `connections_closed_total`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CloseReason {
    /// The server is not a RADIUS stream server, or its transport does not match.
    #[error("not a RADIUS stream server")]
    NotAStreamServer,
    /// The peer's address is in none of the server's clients (RFC 6613 §2.6.4).
    #[error("unknown client")]
    UnknownClient,
    /// The byte stream is not a sequence of RADIUS packets (RFC 6613 §2.6.4).
    #[error("framing error: {0}")]
    Framing(FramingError),
    /// A packet did not decode (bad attribute length, attributes not filling it).
    #[error("malformed packet: {0}")]
    Malformed(DecodeError),
    /// A request failed verification: bad Request Authenticator, bad or missing
    /// Message-Authenticator (RFC 6613 §2.6.4).
    #[error("request failed verification: {0}")]
    BadRequest(AuthError),
    /// A reply to one of our requests failed verification: bad Response
    /// Authenticator or Message-Authenticator (RFC 6613 §2.6.4).
    #[error("reply failed verification: {0}")]
    BadReply(AuthError),
    /// Nothing arrived for the idle timeout.
    #[error("idle timeout")]
    Idle,
    /// The peer sent no verified packet (nor a client certificate) for this long
    /// after connecting, whatever its idle timeout.
    #[error("no verified packet within {} s of connecting", after.as_secs())]
    Unproven {
        /// The first-packet deadline.
        after: std::time::Duration,
    },
    /// A request of ours timed out and the Status-Server probe that followed was
    /// not answered in time (or could not be sent): the peer is gone or hung.
    #[error("unresponsive: the Status-Server probe was not answered")]
    Unresponsive,
    /// The watchdog of a dialed connection declared it dead: that many consecutive
    /// Status-Server probes (or, without `status`, requests) got no reply.
    #[error("watchdog: {failures} consecutive probes or requests got no reply")]
    WatchdogExpired {
        /// Consecutive unanswered probes or requests.
        failures: u32,
    },
    /// A dialed connection was reported for an attempt the engine had already
    /// given up (it timed out, or the server is no longer wanted).
    #[error("connection attempt was abandoned")]
    Abandoned,
    /// A reload removed the connection's server (or changed it so that the
    /// connection no longer belongs to it: another transport, its client gone).
    #[error("configuration reloaded: {0}")]
    Reconfigured(String),
    /// The peer closed the connection, or it failed (seen by the driver).
    #[error("closed by the peer")]
    PeerClosed,
    /// The peer did not read what we sent: the connection's write queue filled
    /// (seen by the driver).
    #[error("write queue full")]
    WriteQueueFull,
    /// The server is shutting down (seen by the driver).
    #[error("shutting down")]
    Shutdown,
}

impl CloseReason {
    /// A packet with `code` failed verification: [`CloseReason::BadRequest`] for a
    /// request, [`CloseReason::BadReply`] for a reply.
    pub fn bad_packet(code: Code, error: AuthError) -> CloseReason {
        if code.is_request() {
            CloseReason::BadRequest(error)
        } else {
            CloseReason::BadReply(error)
        }
    }

    /// Every `reason` label value, in documentation order.
    pub const LABELS: [&'static str; 6] = [
        "peer_closed",
        "idle_timeout",
        "protocol_error",
        "shutdown",
        "unresponsive",
        "write_queue_full",
    ];

    /// The `reason` label of `connections_closed_total`: `peer_closed`,
    /// `idle_timeout`, `protocol_error` (the peer broke the RADIUS rules),
    /// `shutdown` (shutdown or a reload that removed the server),
    /// `unresponsive` (a probe or watchdog gave up), `write_queue_full`.
    pub fn label(&self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Idle => "idle_timeout",
            CloseReason::Unproven { .. } => "unproven",
            CloseReason::NotAStreamServer
            | CloseReason::UnknownClient
            | CloseReason::Framing(_)
            | CloseReason::Malformed(_)
            | CloseReason::BadRequest(_)
            | CloseReason::BadReply(_)
            | CloseReason::Abandoned => "protocol_error",
            CloseReason::Reconfigured(_) | CloseReason::Shutdown => "shutdown",
            CloseReason::Unresponsive | CloseReason::WatchdogExpired { .. } => "unresponsive",
            CloseReason::WriteQueueFull => "write_queue_full",
        }
    }
}
