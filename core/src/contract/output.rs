//! What the engine tells the driver to do: [`Output`]. What it observed, for
//! metrics, is an [`Event`](crate::contract::Event), drained separately.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::contract::bus::BusTarget;
use crate::contract::close::CloseReason;
use crate::contract::ids::{
    AttemptId, ConnId, EffectId, HttpRequestId, ServerId, ServerRef, Target,
};
use crate::eval::ir::BackendId;
use crate::eval::value::Value;

/// The backend number [`Output::Sql`] carries for a statement of a request begun
/// before a reload that removed its backend: no driver has a database under it, so
/// the statement fails with an error.
pub const REMOVED_BACKEND: BackendId = BackendId(u32::MAX);

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
/// Every variant asks for something to be done; observations are
/// [`Event`](crate::contract::Event)s.
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
    /// Run an SQL statement and answer with [`Input::SqlDone`](crate::contract::Input::SqlDone).
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
    /// certificate). Report the result with [`Input::Connected`](crate::contract::Input::Connected) or
    /// [`Input::ConnectFailed`](crate::contract::Input::ConnectFailed).
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
    /// [`Input::BackendDatagram`](crate::contract::Input::BackendDatagram) carrying the same `server`.
    BackendDatagram {
        /// Which backend server.
        server: ServerRef,
        /// Where to send.
        to: Arc<Target>,
        /// The datagram.
        data: Bytes,
    },
    /// Publish a message on the cluster bus (only with `cluster { … }`). Best
    /// effort: the bus may lose it; the engine detects and repairs what a loss
    /// costs.
    Bus {
        /// Every node, or one.
        to: BusTarget,
        /// The message.
        data: Bytes,
    },
}
