//! Error codes of the `errors.*` namespace and error values.

use std::fmt;

/// A symbolic error code, readable in pipelines as `errors.<NAME>` and compared with
/// `aaa.caught_error.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// No active connection was accepted by a reverse backend's `@select`.
    NoReverseConnections,
    /// The NAS did not answer a reverse request within the server's `timeout`.
    ReverseTimeout,
    /// The connection carrying a request closed before its reply arrived.
    ConnectionClosed,
    /// A bounded queue (a full identifier pool's backlog) refused the request.
    QueueFull,
    /// A backend (SQL, proxied RADIUS) did not answer in time.
    BackendTimeout,
    /// A backend failed (SQL error, unreachable RADIUS server, ...).
    BackendError,
    /// A user lookup found no such user.
    NoSuchUser,
    /// A value had the wrong type or could not be converted (e.g. into an attribute).
    InvalidValue,
    /// A value a backend query requires is missing: a `%{…}` of a template in its
    /// `bindings` has no value (e.g. an HTTP query parameter the caller left out), so
    /// the request is not built rather than sent with an empty or shortened attribute.
    MissingValue,
    /// Raised by the `error "…"` action.
    Error,
}

impl ErrorCode {
    /// Every code, in the order they are documented.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::NoReverseConnections,
        ErrorCode::ReverseTimeout,
        ErrorCode::ConnectionClosed,
        ErrorCode::QueueFull,
        ErrorCode::BackendTimeout,
        ErrorCode::BackendError,
        ErrorCode::NoSuchUser,
        ErrorCode::InvalidValue,
        ErrorCode::MissingValue,
        ErrorCode::Error,
    ];

    /// The name as written after `errors.` in configuration.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NoReverseConnections => "NO_REVERSE_CONNECTIONS",
            ErrorCode::ReverseTimeout => "REVERSE_TIMEOUT",
            ErrorCode::ConnectionClosed => "CONNECTION_CLOSED",
            ErrorCode::QueueFull => "QUEUE_FULL",
            ErrorCode::BackendTimeout => "BACKEND_TIMEOUT",
            ErrorCode::BackendError => "BACKEND_ERROR",
            ErrorCode::NoSuchUser => "NO_SUCH_USER",
            ErrorCode::InvalidValue => "INVALID_VALUE",
            ErrorCode::MissingValue => "MISSING_VALUE",
            ErrorCode::Error => "ERROR",
        }
    }

    /// Look a code up by its configuration name (exact, upper case).
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error as a value: raised by actions and backends, or produced by filters, where
/// it travels through the filter chain and compares false under every operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorValue {
    /// The symbolic code.
    pub code: ErrorCode,
    /// A human-readable message (what `%{aaa.caught_error}` renders).
    pub message: String,
}

impl ErrorValue {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
