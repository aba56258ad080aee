//! Names for things both sides refer to: connections, HTTP requests, effects,
//! connection attempts, `connect` servers.

use std::fmt;
use std::net::IpAddr;

use crate::contract::transport::Transport;
use crate::eval::ir::BackendId;

/// The index of a server (`server radius|radsec|… { … }`) in
/// [`Program::servers`](crate::lang::program::Program::servers): which listener
/// a packet arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId(pub u32);

/// A stream connection, numbered by the driver in the order connections were
/// established (strictly increasing, never reused). `connection.id` reads it.
///
/// Accepted connections ([`Input::StreamOpened`](super::Input::StreamOpened)) and
/// the engine's own dialed connections
/// ([`Input::Connected`](super::Input::Connected)) share this one numbering: the
/// driver assigns the number when it reports the connection, from a single counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An HTTP request, numbered by the driver; the answer carries the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpRequestId(pub u64);

/// A backend effect (an SQL statement) the engine asked the driver to run; the
/// driver answers with [`Input::SqlDone`](super::Input::SqlDone) carrying the same
/// number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EffectId(pub u64);

/// One attempt to open a connection to a `connect` server, numbered by the engine
/// in the order it asked for them
/// ([`Output::Connect`](super::Output::Connect)); the driver echoes it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptId(pub u64);

/// One `server "…" { connect { … } }` of a RADIUS backend: the backend and the
/// server's index in [`RadiusBackend::servers`](crate::lang::program::RadiusBackend::servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerRef {
    /// The backend.
    pub backend: BackendId,
    /// The server's index within the backend, in configuration order.
    pub server: u32,
}

/// Where a `connect` server is reached: its `connect { protocol; host|ip; port; }`.
/// TLS settings stay in the program (look them up with the [`ServerRef`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// UDP, TCP or TLS.
    pub protocol: Transport,
    /// `host "name";`: resolve it, and check it in the server's certificate.
    pub host: Option<String>,
    /// `ip A;`.
    pub ip: Option<IpAddr>,
    /// The port.
    pub port: u16,
}
