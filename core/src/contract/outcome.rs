//! How the engine's work ended, as it reports it to the driver for metrics.

use crate::eval::error::ErrorCode;
use crate::radius::code::Code;

/// How a backend request ended: a small closed set, one value per thing an operator
/// acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackendOutcome {
    /// A positive reply arrived: CoA-ACK, Disconnect-ACK, Access-Accept,
    /// Accounting-Response.
    Ack,
    /// Any other reply arrived: CoA-NAK, Disconnect-NAK, Access-Reject, …
    Nak,
    /// No reply in time (`errors.REVERSE_TIMEOUT`, `errors.BACKEND_TIMEOUT`).
    Timeout,
    /// `@select` chose no connection (`errors.NO_REVERSE_CONNECTIONS`).
    NoConnection,
    /// The connection carrying it closed and no retry was left
    /// (`errors.CONNECTION_CLOSED`).
    ConnectionClosed,
    /// A bounded queue refused it (`errors.QUEUE_FULL`).
    QueueFull,
    /// Anything else: the request could not be built or encoded, the backend
    /// server was unreachable (`errors.BACKEND_ERROR`), an internal error.
    Error,
}

impl BackendOutcome {
    /// Every outcome, in the order documented.
    pub const ALL: [BackendOutcome; 7] = [
        BackendOutcome::Ack,
        BackendOutcome::Nak,
        BackendOutcome::Timeout,
        BackendOutcome::NoConnection,
        BackendOutcome::ConnectionClosed,
        BackendOutcome::QueueFull,
        BackendOutcome::Error,
    ];

    /// The outcome of a request answered with `code`.
    pub fn of_reply(code: Code) -> BackendOutcome {
        if code.is_positive() {
            BackendOutcome::Ack
        } else {
            BackendOutcome::Nak
        }
    }

    /// The outcome of a request that failed with `code` before any reply.
    pub fn of_error(code: ErrorCode) -> BackendOutcome {
        match code {
            ErrorCode::ReverseTimeout | ErrorCode::BackendTimeout => BackendOutcome::Timeout,
            ErrorCode::NoReverseConnections => BackendOutcome::NoConnection,
            ErrorCode::ConnectionClosed => BackendOutcome::ConnectionClosed,
            ErrorCode::QueueFull => BackendOutcome::QueueFull,
            ErrorCode::BackendError
            | ErrorCode::NoSuchUser
            | ErrorCode::InvalidValue
            | ErrorCode::MissingValue
            | ErrorCode::Error => BackendOutcome::Error,
        }
    }

    /// A short snake_case name (`ack`, `connection_closed`, …), for logs and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendOutcome::Ack => "ack",
            BackendOutcome::Nak => "nak",
            BackendOutcome::Timeout => "timeout",
            BackendOutcome::NoConnection => "no_connection",
            BackendOutcome::ConnectionClosed => "connection_closed",
            BackendOutcome::QueueFull => "queue_full",
            BackendOutcome::Error => "error",
        }
    }
}

/// Why a RADIUS request received by a server got no reply
/// ([`Event::RequestUnanswered`](crate::contract::Event::RequestUnanswered)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unanswered {
    /// The handler's result calls for no reply: `ignore`, or a result without a
    /// reply for this code (a rejected Accounting-Request).
    Ignored,
    /// No policy handles the request.
    NoPolicy,
    /// An error went uncaught (`errors.*`; no reply unless `reject_errors`).
    Error(ErrorCode),
    /// The reply could not be encoded (an attribute too long, a packet over 4096
    /// octets).
    ReplyNotEncoded,
}

impl Unanswered {
    /// `ignored`, `no policy`, `error NO_REVERSE_CONNECTIONS`, `reply not encoded`:
    /// for log lines.
    pub fn describe(self) -> String {
        match self {
            Unanswered::Ignored => "ignored".to_owned(),
            Unanswered::NoPolicy => "no policy".to_owned(),
            Unanswered::Error(code) => format!("error {}", code.name()),
            Unanswered::ReplyNotEncoded => "reply not encoded".to_owned(),
        }
    }

    /// Whether this is a failure (as opposed to a decision not to answer).
    pub fn is_error(self) -> bool {
        matches!(self, Unanswered::Error(_) | Unanswered::ReplyNotEncoded)
    }
}
