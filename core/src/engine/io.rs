//! What goes into the engine ([`Input`]) and what comes out ([`Output`]).
//!
//! The driver owns every socket. It tells the engine what happened (a datagram
//! arrived, a stream was accepted, bytes arrived, a stream closed, an HTTP request
//! arrived, an SQL statement finished) and carries out what the engine asks for
//! (send a datagram, write bytes, close a stream, answer an HTTP request, run an SQL
//! statement), in the order the engine asks.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::outbound::{AttemptId, ServerRef, Target};
use crate::engine::report::{BackendOutcome, Unanswered};
use crate::eval::context::Transport;
use crate::eval::ir::BackendId;
use crate::eval::query::SqlRows;
use crate::eval::value::Value;
use crate::lang::program::ServerId;
use crate::radius::code::Code;

/// A stream connection, numbered by the driver in the order connections were
/// established (strictly increasing, never reused). `connection.id` reads it.
///
/// Accepted connections ([`Input::StreamOpened`]) and the engine's own outbound
/// connections ([`Input::Connected`]) share this one numbering: the driver assigns
/// the number when it reports the connection, from a single counter.
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
/// driver answers with [`Input::SqlDone`] carrying the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EffectId(pub u64);

/// An HTTP request as the driver parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// The driver's number for it.
    pub id: HttpRequestId,
    /// The HTTP server it arrived at.
    pub server: ServerId,
    /// The client's address.
    pub peer: SocketAddr,
    /// The method, upper case (`POST`).
    pub method: String,
    /// The path without the query string (`/disconnect`).
    pub path: String,
    /// Decoded query parameters (the first value of a repeated key).
    pub query: BTreeMap<String, String>,
    /// Request headers, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Bytes,
}

/// An event the driver reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A datagram arrived on a UDP RADIUS server's socket.
    Datagram {
        /// The server whose socket received it.
        server: ServerId,
        /// The sender.
        peer: SocketAddr,
        /// The local address it arrived at (replies are sent from it).
        local: SocketAddr,
        /// The datagram.
        data: Bytes,
    },
    /// A TCP or TLS connection was accepted on a RADIUS server (after the TLS
    /// handshake, for TLS).
    StreamOpened {
        /// The driver's number for it (greater than every earlier one).
        conn: ConnId,
        /// The server that accepted it.
        server: ServerId,
        /// The remote address.
        peer: SocketAddr,
        /// The local address.
        local: SocketAddr,
        /// TCP or TLS.
        transport: Transport,
        /// The client's certificate chain, leaf first, DER (empty without one).
        peer_certificates: Vec<Bytes>,
    },
    /// Bytes arrived on a stream connection (any split of the stream).
    StreamData {
        /// Which connection.
        conn: ConnId,
        /// The bytes.
        data: Bytes,
    },
    /// The peer closed the connection, or it failed. Not needed (and ignored)
    /// after the engine itself asked for the close.
    StreamClosed {
        /// Which connection.
        conn: ConnId,
    },
    /// An HTTP request arrived.
    HttpRequest(HttpRequest),
    /// An outbound connection asked for with [`Output::Connect`] is established
    /// (after the TLS handshake, for TLS). The driver numbers it here, from the same
    /// counter as accepted connections; the engine then owns it and
    /// [`Input::StreamData`] / [`Input::StreamClosed`] for it go to the outbound side.
    Connected {
        /// The attempt of the [`Output::Connect`].
        attempt: AttemptId,
        /// The driver's number for the connection (greater than every earlier one).
        conn: ConnId,
        /// The local address.
        local: SocketAddr,
        /// The remote address.
        peer: SocketAddr,
        /// The server's certificate chain, leaf first, DER (empty on TCP).
        peer_certificates: Vec<Bytes>,
    },
    /// An outbound connection attempt failed (refused, unreachable, name not
    /// resolved, TLS handshake or certificate check failed). Not needed after
    /// [`Output::AbortConnect`].
    ConnectFailed {
        /// The attempt of the [`Output::Connect`].
        attempt: AttemptId,
        /// What went wrong, for logs and the error a waiting request gets.
        reason: String,
    },
    /// A datagram arrived on the socket the driver keeps for a UDP `connect` server
    /// (see [`Output::BackendDatagram`]).
    BackendDatagram {
        /// The server whose socket received it.
        server: ServerRef,
        /// The sender.
        from: SocketAddr,
        /// The datagram.
        data: Bytes,
    },
    /// An SQL statement asked for with [`Output::Sql`] finished.
    SqlDone {
        /// The effect it answers.
        effect: EffectId,
        /// The rows, or the database's error message.
        result: Result<SqlRows, String>,
    },
}

/// Why the engine closes a stream connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The server is not a RADIUS stream server, or its transport does not match.
    NotAStreamServer,
    /// The peer's address is in none of the server's clients (RFC 6613 §2.6.4).
    UnknownClient,
    /// Bad Length in the stream (RFC 6613 §2.6.4).
    Framing(String),
    /// A packet did not decode (bad attribute length, attributes not filling it).
    Malformed(String),
    /// A request failed verification: bad Request Authenticator, bad or missing
    /// Message-Authenticator (RFC 6613 §2.6.4).
    BadRequest(String),
    /// A reply to one of our requests failed verification (bad Response
    /// Authenticator or Message-Authenticator; RFC 6613 §2.6.4).
    BadReply(String),
    /// Nothing arrived for the idle timeout.
    Idle,
    /// A request of ours timed out and the Status-Server probe that followed was
    /// not answered in time (or could not be sent): the peer is gone or hung.
    Unresponsive,
    /// The outbound side closed one of its connections (watchdog, bad input,
    /// abandoned attempt).
    Outbound(crate::engine::outbound::CloseReason),
    /// A reload removed the connection's server (or changed it so that the
    /// connection no longer belongs to it: another transport, its client gone).
    Reconfigured(String),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::NotAStreamServer => f.write_str("not a RADIUS stream server"),
            CloseReason::UnknownClient => f.write_str("unknown client"),
            CloseReason::Framing(e) => write!(f, "framing error: {e}"),
            CloseReason::Malformed(e) => write!(f, "malformed packet: {e}"),
            CloseReason::BadRequest(e) => write!(f, "request failed verification: {e}"),
            CloseReason::BadReply(e) => write!(f, "reply failed verification: {e}"),
            CloseReason::Idle => f.write_str("idle timeout"),
            CloseReason::Unresponsive => {
                f.write_str("unresponsive: the Status-Server probe was not answered")
            }
            CloseReason::Outbound(r) => write!(f, "outbound connection: {r}"),
            CloseReason::Reconfigured(why) => write!(f, "configuration reloaded: {why}"),
        }
    }
}

/// The backend number [`Output::Sql`] carries for a statement of a request begun
/// before a reload that removed its backend: no driver has a database under it, so
/// the statement fails with an error.
pub const REMOVED_BACKEND: crate::eval::ir::BackendId = crate::eval::ir::BackendId(u32::MAX);

/// Severity of an engine log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `debug …` actions and per-packet detail.
    Debug,
    /// `log "LOGGER" …` actions and ordinary events.
    Info,
    /// Something was dropped, discarded or closed because of bad input or
    /// configuration.
    Warn,
}

/// A log line for the driver to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Severity.
    pub severity: Severity,
    /// The named logger of a `log "LOGGER"` action, if any.
    pub logger: Option<String>,
    /// The text.
    pub text: String,
}

/// A command for the driver, drained with [`crate::engine::Engine::poll_output`].
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a datagram from a UDP server's socket.
    SendDatagram {
        /// The server whose socket sends it.
        server: ServerId,
        /// The local address to send from.
        local: SocketAddr,
        /// The destination.
        peer: SocketAddr,
        /// The datagram.
        data: Bytes,
    },
    /// Write bytes to a stream connection (one whole RADIUS packet).
    StreamWrite {
        /// Which connection.
        conn: ConnId,
        /// The packet.
        data: Bytes,
    },
    /// Close a stream connection. The engine has already forgotten it.
    StreamClose {
        /// Which connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Answer an HTTP request.
    HttpResponse {
        /// The request answered.
        id: HttpRequestId,
        /// Status code.
        status: u16,
        /// Headers (names lower-case).
        headers: Vec<(String, String)>,
        /// Body.
        body: Bytes,
    },
    /// Run an SQL statement and answer with [`Input::SqlDone`].
    Sql {
        /// The effect's number.
        effect: EffectId,
        /// The SQL backend (its database).
        backend: BackendId,
        /// The statement, with `?` placeholders.
        statement: String,
        /// One parameter per placeholder.
        params: Vec<Value>,
    },
    /// Write a log line.
    Log(LogLine),
    /// Open a stream connection to a `connect` server of a RADIUS backend: TCP, or
    /// TCP then TLS with the server's `connect { tls { … } }` (look it up in the
    /// program with `server`; `target.host` is the name to check in the server's
    /// certificate). Report the result with [`Input::Connected`] or
    /// [`Input::ConnectFailed`].
    Connect {
        /// Echo this back.
        attempt: AttemptId,
        /// Which backend server (its TLS settings are in the program).
        server: ServerRef,
        /// Where to connect.
        target: Arc<Target>,
    },
    /// Give up a connection attempt: no report is needed any more, and a late
    /// success is closed by the engine.
    AbortConnect {
        /// The attempt.
        attempt: AttemptId,
    },
    /// Send a datagram to a UDP `connect` server, from a socket the driver keeps for
    /// that server (one socket per server); what comes back on it is reported with
    /// [`Input::BackendDatagram`] carrying the same `server`.
    BackendDatagram {
        /// Which backend server.
        server: ServerRef,
        /// Where to send.
        to: Arc<Target>,
        /// The datagram.
        data: Bytes,
    },
    /// A request to a RADIUS backend ended (a reverse request to a NAS, or a
    /// request to a `connect` server): for metrics only, nothing to carry out.
    /// Reported once per backend call, after its retries, whatever the outcome.
    BackendRequestFinished {
        /// The backend.
        backend: BackendId,
        /// How it ended.
        outcome: BackendOutcome,
        /// From the first time it was written (reverse) or handed to the outbound
        /// side (`connect`) to its end, on the engine's clock; `None` when it never
        /// got that far (no connection selected, queue full, not encodable).
        latency: Option<Duration>,
    },
    /// A RADIUS request a server received ended without a reply: for metrics,
    /// nothing to carry out (the engine has logged it already). Reported once per
    /// request handed to the policies, when its handling is over. A request that
    /// was answered is not reported here: its reply, written with
    /// [`Output::SendDatagram`] or [`Output::StreamWrite`], tells how it ended.
    RequestUnanswered {
        /// The server that received it (for a request that arrived over one of our
        /// outbound connections, the `listen { backend … }` server that handled it).
        server: ServerId,
        /// The request's code.
        request_code: Code,
        /// Why there was no reply.
        ending: Unanswered,
    },
}
