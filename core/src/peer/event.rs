//! What a peer machine reports: every request it accepted ends in exactly one of
//! [`Event::Reply`], [`Event::Failed`] or [`Event::Lost`]; the other events tell
//! the owner what to write, what to close and what the peer's liveness is.

use std::time::Duration;

use bytes::Bytes;

use crate::radius::code::Code;
use crate::radius::error::AuthError;
use crate::radius::packet::Packet;

/// Why a request failed without a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No verified reply within the request's timeout.
    #[error("no reply within {} ms", after.as_millis())]
    Timeout {
        /// The request's timeout.
        after: Duration,
    },
    /// The request could not be signed (too long, User-Password too long).
    #[error("the request could not be encoded: {0}")]
    Encode(String),
    /// The request waited its whole timeout for a free identifier (every one in
    /// use or resting) and was never sent.
    #[error("no identifier came free within {} ms; not sent", waited.as_millis())]
    Queued {
        /// How long it waited (its timeout).
        waited: Duration,
    },
}

/// One thing a peer machine reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<W> {
    /// A waiting request got an identifier and was signed: write `bytes`.
    Sent {
        /// Whose request.
        waiter: W,
        /// Its identifier.
        id: u8,
        /// The signed packet.
        bytes: Bytes,
    },
    /// A datagram request is retransmitted unchanged (RFC 5080): write `bytes`.
    Resent {
        /// The same bytes as the first transmission.
        bytes: Bytes,
    },
    /// The liveness probe (Status-Server) was signed: write `bytes`.
    ProbeSent {
        /// The signed packet.
        bytes: Bytes,
    },
    /// A verified reply.
    Reply {
        /// Whose request.
        waiter: W,
        /// The reply (attributes still hidden).
        packet: Packet,
        /// The Request Authenticator it answers (to reveal hidden attributes).
        authenticator: [u8; 16],
    },
    /// The request failed; its identifier rests before reuse (see
    /// [`crate::peer::Request::rest`]).
    Failed {
        /// Whose request.
        waiter: W,
        /// Why.
        failure: Failure,
    },
    /// The endpoint closed with the request still pending. `seen` is false when
    /// the peer cannot have seen it (it was still queued, or nothing arrived from
    /// the peer after it was written); otherwise its outcome is unknown.
    Lost {
        /// Whose request.
        waiter: W,
        /// Whether the peer may have seen it.
        seen: bool,
    },
    /// A reply matched a request (or the probe) by identifier and code but failed
    /// verification: a stream endpoint must close (RFC 6613 §2.6.4).
    BadReply {
        /// The reply's code.
        code: Code,
        /// What failed.
        error: AuthError,
    },
    /// A reply that answers nothing pending; discarded. `late` when it is the
    /// verified answer to a request (or probe) that was given up (a sign of life).
    Stray {
        /// Its identifier.
        id: u8,
        /// Its code.
        code: Code,
        /// Whether it verifies as the late reply to an abandoned request.
        late: bool,
    },
    /// The probe got its verified answer.
    ProbeAnswered,
    /// The probe got no answer in time (or could not be signed).
    ProbeUnanswered,
}
