//! What the engine observed, for metrics: [`Event`], drained with
//! [`crate::engine::Engine::poll_event`].
//!
//! Events are not commands: nothing is carried out for them, and a dispatcher that
//! only executes [`Output`](crate::contract::Output)s never sees them. Each is
//! reported once, where the engine decides the thing it reports, so the driver
//! counts from them without re-reading packets or diffing counters.

use std::time::Duration;

use crate::contract::ids::ServerId;
use crate::contract::outcome::{BackendOutcome, Unanswered};
use crate::eval::ir::BackendId;
use crate::radius::code::Code;
use crate::radius::error::AuthError;

/// Why a received packet was discarded before any policy ran: the `reason` label of
/// `radius_dropped_total` ([`DropReason::label`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// The Request Authenticator (Accounting, CoA, Disconnect) did not verify.
    BadAuthenticator,
    /// The Message-Authenticator did not verify, was malformed or repeated, or was
    /// absent where required (Status-Server, the client's
    /// `require_message_authenticator`, or Proxy-State with `limit_proxy_state`).
    BadMessageAuthenticator,
    /// The source address matches no configured client (or the client has no
    /// secret).
    UnknownClient,
    /// The packet does not decode (length, attribute framing).
    Malformed,
    /// A retransmission of a request in progress (joined) or answered (answered
    /// again from the duplicate cache, or not at all): not processed twice.
    Duplicate,
    /// A packet code this server does not handle.
    UnknownCode,
    /// A reply matching no request we sent.
    UnmatchedReply,
    /// A verified reply to a request of ours that had already timed out (its
    /// caller got the timeout). It still shows the NAS is alive.
    LateReply,
    /// Too many requests are being processed (`max_tasks`), or the duplicate cache
    /// is full of requests in flight.
    Overloaded,
    /// The kernel dropped the datagram because the UDP socket's receive buffer was
    /// full. Never reported by the engine (the packet never reached it): the driver
    /// reads the kernel's counter and uses this reason for its label.
    ReceiveBufferFull,
}

impl DropReason {
    /// Every reason, in documentation order.
    pub const ALL: [DropReason; 10] = [
        DropReason::BadAuthenticator,
        DropReason::BadMessageAuthenticator,
        DropReason::UnknownClient,
        DropReason::Malformed,
        DropReason::Duplicate,
        DropReason::UnknownCode,
        DropReason::UnmatchedReply,
        DropReason::LateReply,
        DropReason::Overloaded,
        DropReason::ReceiveBufferFull,
    ];

    /// Why a request that failed verification with `error` is dropped.
    pub fn of_auth_error(error: &AuthError) -> DropReason {
        match error {
            AuthError::MissingMessageAuthenticator
            | AuthError::DuplicateMessageAuthenticator { .. }
            | AuthError::MessageAuthenticatorLength { .. }
            | AuthError::BadMessageAuthenticator
            | AuthError::ProxyStateWithoutMessageAuthenticator => {
                DropReason::BadMessageAuthenticator
            }
            AuthError::UnknownCode { .. } | AuthError::WrongDirection { .. } => {
                DropReason::UnknownCode
            }
            _ => DropReason::BadAuthenticator,
        }
    }

    /// The `reason` label of `radius_dropped_total`.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::BadAuthenticator => "bad_authenticator",
            DropReason::BadMessageAuthenticator => "bad_message_authenticator",
            DropReason::UnknownClient => "unknown_client",
            DropReason::Malformed => "malformed",
            DropReason::Duplicate => "duplicate",
            DropReason::UnknownCode => "unknown_code",
            DropReason::UnmatchedReply => "unmatched_reply",
            DropReason::LateReply => "late_reply",
            DropReason::Overloaded => "overloaded",
            DropReason::ReceiveBufferFull => "receive_buffer_full",
        }
    }
}

/// What happened to a NAS-Identifier a NAS announced in Status-Server that needs
/// attention: the `result` label of `nas_identifier_claims_total`
/// ([`NasIdentifierClaim::label`]). Claims accepted without remark are not reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NasIdentifierClaim {
    /// Accepted, but another live connection announces the same identifier
    /// (reported once per connection that starts claiming it).
    Duplicate,
    /// Refused: it does not match the client's `nas_identifier_binding`.
    Mismatch,
    /// Refused: a live connection with another certificate holds it.
    Conflict,
}

impl NasIdentifierClaim {
    /// The `result` label of `nas_identifier_claims_total`.
    pub fn label(self) -> &'static str {
        match self {
            NasIdentifierClaim::Duplicate => "duplicate",
            NasIdentifierClaim::Mismatch => "mismatch",
            NasIdentifierClaim::Conflict => "conflict",
        }
    }
}

/// A step of the reverse path on this node's connections, worth counting: of
/// reverse requests (this node's own and those other nodes forwarded to it) and of
/// the connections' liveness. The `step` label of `reverse_steps_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReverseStep {
    /// A reverse request was written to a connection.
    Sent,
    /// A reply to one was matched and verified.
    Replied,
    /// One got no reply in time (`errors.REVERSE_TIMEOUT`).
    TimedOut,
    /// A reply failed verification; the connection was closed (RFC 6613 §2.6.4).
    BadReply,
    /// A request was selected again after its connection closed, spending one of
    /// its `retries`.
    Retried,
    /// A request was selected again without spending a retry: its connection
    /// closed before the NAS could have seen it.
    Reselected,
    /// A request was refused: the connection's backlog was full.
    QueueFull,
    /// A request waited in the connection's backlog for its whole timeout and
    /// failed unsent (`errors.REVERSE_TIMEOUT`).
    QueueTimedOut,
    /// A request was forwarded to the cluster node that holds its connection.
    Forwarded,
    /// A liveness probe (Status-Server after a timeout) was sent.
    ProbeSent,
    /// A verified reply restored the health of a connection in doubt.
    HealthRestored,
    /// A liveness probe went unanswered; the connection was closed.
    ProbeUnanswered,
}

impl ReverseStep {
    /// Every step, in label order of documentation.
    pub const ALL: [ReverseStep; 12] = [
        ReverseStep::Sent,
        ReverseStep::Replied,
        ReverseStep::TimedOut,
        ReverseStep::BadReply,
        ReverseStep::Retried,
        ReverseStep::Reselected,
        ReverseStep::QueueFull,
        ReverseStep::QueueTimedOut,
        ReverseStep::Forwarded,
        ReverseStep::ProbeSent,
        ReverseStep::HealthRestored,
        ReverseStep::ProbeUnanswered,
    ];

    /// The `step` label of `reverse_steps_total`.
    pub fn label(self) -> &'static str {
        match self {
            ReverseStep::Sent => "sent",
            ReverseStep::Replied => "replied",
            ReverseStep::TimedOut => "timed_out",
            ReverseStep::BadReply => "bad_reply",
            ReverseStep::Retried => "retried",
            ReverseStep::Reselected => "reselected",
            ReverseStep::QueueFull => "queue_full",
            ReverseStep::QueueTimedOut => "queue_timed_out",
            ReverseStep::Forwarded => "forwarded",
            ReverseStep::ProbeSent => "probe_sent",
            ReverseStep::HealthRestored => "health_restored",
            ReverseStep::ProbeUnanswered => "probe_unanswered",
        }
    }
}

/// Which end of a forwarded reverse request (cluster) an [`Event::Forward`] reports:
/// the `direction` label of `cluster_forwarded_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ForwardSide {
    /// This node holds the trigger and sent the request to the connection's node.
    Sent,
    /// This node holds the connection and sent another node's request on it.
    Served,
}

impl ForwardSide {
    /// The `direction` label.
    pub fn label(self) -> &'static str {
        match self {
            ForwardSide::Sent => "out",
            ForwardSide::Served => "in",
        }
    }
}

/// How a forwarded reverse request ended: the `outcome` label of
/// `cluster_forwarded_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ForwardEnd {
    /// The NAS replied (whatever the reply's code).
    Reply,
    /// The NAS did not reply within the reverse server's timeout.
    Timeout,
    /// The connection closed (or was gone) before a reply.
    Lost,
    /// The owner refused it (queue full, not encodable, unknown server…).
    Error,
    /// The owner did not answer within timeout + `forward_margin` (trigger side only).
    NoAnswer,
    /// The owner left the view with the request unanswered (trigger side only).
    OwnerLost,
}

impl ForwardEnd {
    /// Every value, for tests of the labels.
    pub const ALL: [ForwardEnd; 6] = [
        ForwardEnd::Reply,
        ForwardEnd::Timeout,
        ForwardEnd::Lost,
        ForwardEnd::Error,
        ForwardEnd::NoAnswer,
        ForwardEnd::OwnerLost,
    ];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            ForwardEnd::Reply => "reply",
            ForwardEnd::Timeout => "timeout",
            ForwardEnd::Lost => "connection_lost",
            ForwardEnd::Error => "error",
            ForwardEnd::NoAnswer => "no_answer",
            ForwardEnd::OwnerLost => "owner_lost",
        }
    }
}

/// Something the engine observed, for metrics only: drained with
/// [`crate::engine::Engine::poll_event`], never carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A packet a server received was discarded before any policy ran.
    Dropped {
        /// The server that received it.
        server: ServerId,
        /// Why.
        reason: DropReason,
    },
    /// A RADIUS request a server received was answered: reported when its reply is
    /// handed to the driver (Status-Server answered by the engine itself included).
    /// A retransmission answered again from the duplicate cache is not reported
    /// here; it is [`DropReason::Duplicate`].
    RequestAnswered {
        /// The server that received it (for a request that arrived over one of our
        /// dialed connections, the `listen { backend … }` server that handled it).
        server: ServerId,
        /// The request's code.
        request_code: Code,
        /// The reply's code.
        reply_code: Code,
    },
    /// A RADIUS request a server received ended without a reply. Reported once per
    /// request handed to the policies, when its handling is over (the engine has
    /// logged it already). [`Unanswered::NoPolicy`] is the "no policy matched"
    /// report.
    RequestUnanswered {
        /// The server that received it (as for [`Event::RequestAnswered`]).
        server: ServerId,
        /// The request's code.
        request_code: Code,
        /// Why there was no reply.
        ending: Unanswered,
    },
    /// A request to a RADIUS backend ended (a reverse request to a NAS, or a request
    /// to a `connect` server). Reported once per backend call, after its retries,
    /// whatever the outcome.
    BackendRequestFinished {
        /// The backend.
        backend: BackendId,
        /// How it ended.
        outcome: BackendOutcome,
        /// From the first time it was written (reverse) or handed to the dialer
        /// (`connect`) to its end, on the engine's clock; `None` when it never
        /// got that far (no connection selected, queue full, not encodable).
        latency: Option<Duration>,
    },
    /// A NAS-Identifier announced in Status-Server on one of a server's connections
    /// was refused or duplicates another connection's (logged at warn level too).
    NasIdentifierClaim {
        /// The server whose connection announced it.
        server: ServerId,
        /// What happened to it.
        claim: NasIdentifierClaim,
    },
    /// A step of the reverse path on one of this node's connections.
    Reverse(ReverseStep),
    /// A reverse request forwarded between cluster nodes ended, at one of its two
    /// ends. Reported once per forwarded request and side.
    Forward {
        /// Which end this node is.
        side: ForwardSide,
        /// How it ended.
        end: ForwardEnd,
        /// Sent side with an answer: from the forward to its answer, on the engine's
        /// clock; `None` otherwise.
        latency: Option<Duration>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_step_labels_are_distinct_and_all_listed() {
        let mut labels: Vec<&str> = ReverseStep::ALL.iter().map(|s| s.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), ReverseStep::ALL.len());
    }

    #[test]
    fn drop_labels_are_distinct() {
        let mut labels: Vec<&str> = DropReason::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), DropReason::ALL.len());
    }

    #[test]
    fn forward_labels_are_distinct() {
        let mut labels: Vec<&str> = ForwardEnd::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), ForwardEnd::ALL.len());
        assert_ne!(ForwardSide::Sent.label(), ForwardSide::Served.label());
    }
}
