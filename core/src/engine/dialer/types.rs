//! The vocabulary of the dialer: identifiers, what it asks the
//! driver to do, why it closes a connection, and its errors.

use thiserror::Error;

use crate::contract::{CloseReason, ConnId, Output, ServerRef};
use crate::eval::error::ErrorValue;
use crate::radius::packet::Packet;

/// The caller's handle for one request; opaque to the dialer and
/// echoed in the request's single [`DialerOutput::Reply`] or
/// [`DialerOutput::Failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestToken(pub u64);

/// A command for the driver, drained with
/// [`Dialer::poll_output`](super::Dialer::poll_output) in order.
#[derive(Debug, Clone, PartialEq)]
pub enum DialerOutput {
    /// A command for the driver, in the contract's words: `Connect`,
    /// `AbortConnect`, `StreamWrite` (whole packets) or `BackendDatagram` (from the
    /// socket the driver keeps for that server, so that replies come back with its
    /// key).
    Driver(Output),
    /// Close the connection. The machine has already forgotten it; a later
    /// `handle_stream_closed` for it is ignored.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// The verified reply to a request.
    Reply {
        /// The request's token.
        token: RequestToken,
        /// The server that answered (its secret reveals hidden reply attributes).
        server: ServerRef,
        /// The Request Authenticator of the request as last sent, which hidden
        /// reply attributes (Tunnel-Password, MS-MPPE keys) are keyed with.
        request_authenticator: [u8; 16],
        /// The reply.
        packet: Packet,
    },
    /// The request failed: `BACKEND_TIMEOUT`, `BACKEND_ERROR`,
    /// `CONNECTION_CLOSED` or `QUEUE_FULL`.
    Failed {
        /// The request's token.
        token: RequestToken,
        /// Why.
        error: ErrorValue,
    },
    /// The far end sent a request over one of our dialed connections (a reverse
    /// CoA, for instance). Its authenticators have been verified; the engine
    /// answers it, if at all, by writing to the connection itself.
    IncomingRequest {
        /// The connection it came on.
        conn: ConnId,
        /// The server that connection belongs to (a `listen { backend … }` server
        /// of this backend handles it).
        server: ServerRef,
        /// The request.
        packet: Packet,
    },
    /// A server became reachable (connected, or answered again) or unreachable.
    ServerState {
        /// The server.
        server: ServerRef,
        /// Whether it is up.
        up: bool,
    },
}

/// Counts that tests and simulators check for leaks (invariant 5: nothing
/// survives once all work completed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DialerCounts {
    /// Requests accepted by `send` that have not yet produced Reply or Failed.
    pub pending_requests: usize,
    /// Of those, requests waiting for a connection or an identifier.
    pub queued_requests: usize,
    /// Identifiers of our requests in use, over all connections and UDP servers
    /// (reserved Status-Server identifiers excluded).
    pub ids_in_use: usize,
    /// Status-Server probes awaiting their reply.
    pub probes_in_flight: usize,
    /// Timers armed for requests (they all go when the requests finish).
    pub request_timers: usize,
    /// All armed timers (watchdogs and reconnects included).
    pub timers: usize,
    /// Open stream connections.
    pub connections: usize,
    /// Connection attempts in progress.
    pub connecting: usize,
}

/// A broken internal invariant, reported by
/// [`Dialer::check_invariants`](super::Dialer::check_invariants).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("dialer invariant violated: {0}")]
pub struct InvariantViolation(pub String);
